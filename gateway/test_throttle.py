"""Login and registration throttles (gateway/throttle.py) against the real auth service and Redis,
through two gateway replicas that share the counts. Each test is its own set of client addresses
(X-Forwarded-For, one trusted proxy), so the counts of one never touch another."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import CORS_ORIGIN, Api, Reply, assert_error, gateway_settings
from tests.support.harness import Platform

LIMITS: dict[str, Any] = {
    "forwarded_hops": 1,
    "login_free_failures": 2,
    "login_backoff_max_seconds": 4,
    "login_account_failures": 6,
    "login_account_window_seconds": 30,
    "login_client_attempts": 8,
    "registrations_per_client": 2,
}


@pytest.fixture(scope="module")
async def replicas(platform: Platform) -> AsyncIterator[tuple[Api, Api]]:
    await platform.start("auth")
    settings = gateway_settings(platform, **LIMITS)
    async with (
        TestClient(TestServer(create_app(settings))) as one,
        TestClient(TestServer(create_app(settings))) as two,
    ):
        yield Api(one), Api(two)


_CLIENTS = itertools.count(1)


def _address() -> str:
    """A forwarded chain no other client of the run has: random ones collided now and then, and a
    client sharing an exhausted client's address was throttled by that client's limit."""
    n = next(_CLIENTS)
    return f"198.51.{n // 250 % 256}.{n % 250 + 1}, 10.{n // 250 % 256}.0.{n % 250 + 1}"


class Client:
    """One caller at one address, talking to either replica."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.headers = {"X-Forwarded-For": _address()}

    async def login(self, email: str, password: str) -> Reply:
        return await self.api.post(
            "/api/auth/login/", {"email": email, "password": password}, headers=self.headers
        )

    async def register(self, email: str, password: str) -> Reply:
        body = {"email": email, "password": password}
        return await self.api.post("/api/auth/register/", body, headers=self.headers)


def _email() -> str:
    return f"t{uuid4().hex[:16]}@example.com"


PASSWORD = "correct horse battery"


def _retry_after(reply: Reply) -> int:
    assert_error(reply, 429, mentions="Too many")
    return int(reply.headers["Retry-After"])


async def test_guessing_one_account_from_one_place_backs_off_without_locking_the_owner_out(
    replicas: tuple[Api, Api],
) -> None:
    one, two = replicas
    email = _email()
    assert (await Client(one).register(email, PASSWORD)).status == 201
    attacker = Client(one)
    for _ in range(3):  # two free failures, the third starts a 1 s wait
        assert (await attacker.login(email, "wrong-guess-1")).status == 401
    # The wait holds on the other replica too, and for the right password from this place.
    attacker.api = two
    assert _retry_after(await attacker.login(email, PASSWORD)) == 1
    # The owner, elsewhere, signs in at once.
    assert (await Client(one).login(email, PASSWORD)).status == 200
    await asyncio.sleep(1.1)
    assert (await attacker.login(email, "wrong-guess-2")).status == 401  # the wait doubles
    assert _retry_after(await attacker.login(email, "wrong-guess-3")) == 2
    await asyncio.sleep(2.1)
    # A success starts over.
    assert (await attacker.login(email, PASSWORD)).status == 200
    assert (await attacker.login(email, "wrong-guess-4")).status == 401


async def test_guessing_one_account_from_many_places_is_capped_per_account(replicas: tuple[Api, Api]) -> None:
    one, two = replicas
    email = _email()
    assert (await Client(one).register(email, PASSWORD)).status == 201
    for i in range(LIMITS["login_account_failures"]):
        assert (await Client((one, two)[i % 2]).login(email, f"guess-{i}-xyz")).status == 401
    wait = _retry_after(await Client(one).login(email, PASSWORD))
    assert 1 <= wait <= LIMITS["login_account_window_seconds"]
    # Other accounts are not touched.
    other = _email()
    assert (await Client(two).register(other, PASSWORD)).status == 201
    assert (await Client(two).login(other, PASSWORD)).status == 200


async def test_one_client_gets_a_number_of_logins_per_minute(replicas: tuple[Api, Api]) -> None:
    one, two = replicas
    client = Client(one)
    for i in range(LIMITS["login_client_attempts"]):
        client.api = (one, two)[i % 2]
        assert (await client.login(_email(), "not-an-account-1")).status == 401
    assert 1 <= _retry_after(await client.login(_email(), "not-an-account-1")) <= 60


async def test_one_client_makes_a_number_of_accounts_per_hour(replicas: tuple[Api, Api]) -> None:
    one, two = replicas
    client = Client(one)
    for _ in range(LIMITS["registrations_per_client"]):
        assert (await client.register(_email(), PASSWORD)).status == 201
    client.api = two
    client.headers["Origin"] = CORS_ORIGIN
    refused = await client.register(_email(), PASSWORD)
    assert 3000 < _retry_after(refused) <= 3600
    # A browser app may read it.
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
    assert (await Client(two).register(_email(), PASSWORD)).status == 201


async def test_the_openapi_document_promises_429(replicas: tuple[Api, Api]) -> None:
    document = (await replicas[0].get("/api/openapi.json")).body
    for path in ("/api/auth/login/", "/api/auth/register/"):
        responses = document["paths"][path]["post"]["responses"]
        assert "Retry-After" in responses["429"]["headers"], responses
