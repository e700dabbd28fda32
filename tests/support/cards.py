"""Card tokens for tests: the card goes to payments' tokenization endpoint over real HTTP, as a
browser would send it, and only the token goes on to orders or payments."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import aiohttp

from services.payments.providers import APPROVE_CARD
from tests.support.harness import Platform


def card(
    number: str = APPROVE_CARD, exp_month: int = 12, exp_year: int = 2099, cvc: str = "123"
) -> dict[str, Any]:
    return {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}


def tokens_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/tokens"


async def post_card(port: int, body: Any) -> tuple[int, Any]:
    """(status, JSON answer) of POST /v1/tokens with `body` (bytes/str sent as they are)."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(tokens_url(port), data=data, headers={"Content-Type": "application/json"}) as reply,
    ):
        return reply.status, await reply.json(content_type=None)


async def tokenize(platform: Platform, number: str = APPROVE_CARD, **fields: Any) -> str:
    """A fresh single-use token for the card (payments must be running)."""
    await platform.start("payments")
    status, answer = await post_card(platform.http_port("payments", "tokens"), card(number, **fields))
    assert status == 201, answer
    token: str = answer["token"]
    return token


def tokenize_sync(port: int, number: str = APPROVE_CARD, **fields: Any) -> str:
    """The same against a launched platform (blocking; for the end-to-end tests)."""
    request = urllib.request.Request(
        tokens_url(port),
        data=json.dumps(card(number, **fields)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 201
        token: str = json.loads(reply.read())["token"]
        return token
