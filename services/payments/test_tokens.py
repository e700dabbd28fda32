"""Card tokenization: POST /v1/tokens on a real port in front of the real database, and charging
with the single-use tokens it gives through real gRPC."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import aiohttp
import grpc
import pytest
import sqlalchemy as sa

from services.kit.database import Database
from services.kit.server import RunningService, start
from services.payments.providers import TestProvider
from services.payments.service import build_with
from services.payments.store import CardTokenRow
from shop.common.v1 import common_pb2
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.support.cards import card, post_card, tokens_url
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

Stub = payments_pb2_grpc.PaymentsServiceStub
Meta = tuple[tuple[str, str]]
ORIGIN = "http://shop.test"


@pytest.fixture
async def port(platform: Platform) -> int:
    await platform.start("payments")
    return platform.http_port("payments", "tokens")


@pytest.fixture
def payments(platform: Platform, port: int) -> Stub:
    return platform.stub(Stub, "payments")


@pytest.fixture
def svc(tokens: TokenFactory) -> Meta:
    return bearer(tokens.service("orders"))


def _charge(token: str, key: str | None = None, reference: str | None = None) -> payments_pb2.ChargeRequest:
    return payments_pb2.ChargeRequest(
        idempotency_key=key or uuid4().hex,
        order_reference=reference or f"order:{uuid4().hex}",
        user_id=7,
        amount=common_pb2.Money(amount_minor=1250, currency="USD"),
        method=payments_pb2.PaymentMethod(token=token),
    )


async def _token(port: int, number: str = "4242424242424242", **fields: Any) -> str:
    status, answer = await post_card(port, card(number, **fields))
    assert status == 201, answer
    token: str = answer["token"]
    return token


async def _error(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


# --- the endpoint --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand", "last4"),
    [
        ("4242424242424242", "visa", "4242"),
        ("4242 4242 4242 4242", "visa", "4242"),
        ("5555555555554444", "mastercard", "4444"),
        ("2223003122003222", "mastercard", "3222"),
        ("378282246310005", "amex", "0005"),
        ("6011111111111117", "discover", "1117"),
        ("3566002020360505", "jcb", "0505"),
    ],
)
async def test_a_card_becomes_a_token(port: int, number: str, brand: str, last4: str) -> None:
    status, answer = await post_card(port, card(number, exp_month=7, exp_year=2031, cvc="1234"))
    assert status == 201, answer
    assert re.fullmatch(r"tok_[0-9a-f]{32}", answer["token"]), answer
    assert answer == {
        "token": answer["token"],
        "brand": brand,
        "last4": last4,
        "exp_month": 7,
        "exp_year": 2031,
    }
    # Every card gets a token of its own.
    assert await _token(port, number) != answer["token"]


async def test_what_is_stored_of_a_card_is_never_its_number_or_cvc(platform: Platform, port: int) -> None:
    token = await _token(port, "5105105105105100", exp_month=3, exp_year=2030, cvc="9071")
    db = Database(platform.settings("payments").resolved_database_url())
    try:
        async with db.read() as session:
            row = (
                await session.execute(sa.select(CardTokenRow.__table__).where(CardTokenRow.token == token))
            ).one()
    finally:
        await db.close()
    stored = dict(row._mapping)
    assert set(stored) == {
        "token",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "behaviour",
        "created_at",
        "expires_at",
        "used_at",
        "payment_id",
    }
    assert (stored["brand"], stored["last4"], stored["exp_month"], stored["exp_year"]) == (
        "mastercard",
        "5100",
        3,
        2030,
    )
    assert (stored["behaviour"], stored["used_at"], stored["payment_id"]) == ("approve", None, None)
    text = " ".join(str(v) for v in stored.values())
    assert "5105105105105100" not in text
    assert "9071" not in text


GOOD = card()


def _with(**changes: Any) -> dict[str, Any]:
    body = dict(GOOD)
    for name, value in changes.items():
        if value is ...:
            body.pop(name)
        else:
            body[name] = value
    return body


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (_with(number="4242424242424241"), "card number is invalid"),
        (_with(number="4242"), "card number must be 12 to 19 digits"),
        (_with(number="42424242424242a2"), "card number must be 12 to 19 digits"),
        (_with(number="\uff14\uff12" * 8), "card number must be 12 to 19 digits"),  # full-width digits
        (_with(number=""), "card number must be 12 to 19 digits"),
        (_with(exp_month=0), "card expiry month must be between 1 and 12"),
        (_with(exp_month=13), "card expiry month must be between 1 and 12"),
        (_with(exp_year=2020), "card has expired"),
        (_with(exp_year=99999), "card expiry year is invalid"),
        (_with(exp_year=-1), "card expiry year is invalid"),
        (_with(cvc="12"), "card CVC must be 3 or 4 digits"),
        (_with(cvc="12345"), "card CVC must be 3 or 4 digits"),
        (_with(cvc="12a"), "card CVC must be 3 or 4 digits"),
        (_with(number=4242424242424242), "number is required and must be a string"),
        (_with(number=None), "number is required and must be a string"),
        (_with(number=...), "number is required and must be a string"),
        (_with(exp_month="12"), "exp_month is required and must be an integer"),
        (_with(exp_month=True), "exp_month is required and must be an integer"),
        (_with(exp_month=12.0), "exp_month is required and must be an integer"),
        (_with(exp_year=...), "exp_year is required and must be an integer"),
        (_with(exp_year=1e400), "exp_year is required and must be an integer"),
        (_with(cvc=123), "cvc is required and must be a string"),
        (_with(cvc=["123"]), "cvc is required and must be a string"),
        ([GOOD], "body must be a JSON object"),
        ("4242424242424242", "body must be a JSON object"),
        ('{"number": "4242424242424242", ', "body must be a JSON object"),
        (b"\xff\xfe{}", "body must be a JSON object"),
        ("", "body must be a JSON object"),
        ("NaN", "body must be a JSON object"),
        (_with(padding="x" * 5000), "body must be at most 4096 bytes"),
    ],
)
async def test_bad_input_is_a_400_that_never_repeats_the_card(
    port: int, body: Any, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = body if isinstance(body, bytes | str) else None
    with caplog.at_level(logging.DEBUG):
        status, answer = await post_card(port, raw if raw is not None else body)
    assert (status, answer) == (400, {"error": error})
    for secret in ("4242424242424242", "4242424242424241", "42424242424242a2"):
        assert secret not in caplog.text
        assert secret not in str([r.__dict__ for r in caplog.records])


async def test_wrong_paths_and_methods_answer_json(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(tokens_url(port)) as reply:
            assert (reply.status, await reply.json()) == (405, {"error": "Method Not Allowed"})
        async with session.post(tokens_url(port) + "/4242424242424242", json=GOOD) as reply:
            assert (reply.status, await reply.json()) == (404, {"error": "Not Found"})


async def test_the_endpoint_logs_routes_never_paths_or_bodies(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as session:
        with caplog.at_level(logging.DEBUG):
            async with session.post(tokens_url(port) + "/4000056655665556", json=GOOD) as reply:
                assert reply.status == 404
            await _token(port, "4000056655665556", cvc="8310")
    lines = [r for r in caplog.records if r.getMessage() == "http request"]
    assert [(r.__dict__["route"], r.__dict__["status"]) for r in lines] == [
        ("unmatched", 404),
        ("/v1/tokens", 201),
    ]
    assert "4000056655665556" not in caplog.text
    assert "4000056655665556" not in str([r.__dict__ for r in caplog.records])


# --- charging with tokens ------------------------------------------------------------------------


async def test_a_token_pays_once(payments: Stub, svc: Meta, port: int) -> None:
    token = await _token(port, "5555555555554444")
    first = _charge(token)
    paid = (await payments.Charge(first, metadata=svc)).payment
    assert (paid.status, paid.card_last4) == (payments_pb2.PAYMENT_STATUS_CAPTURED, "4444")
    # A replay of the same request (same key) is the same payment, not a second use.
    assert (await payments.Charge(first, metadata=svc)).payment.id == paid.id
    # Another payment with the spent token is refused, and nothing is recorded for it.
    again = _charge(token)
    assert await _error(payments.Charge(again, metadata=svc)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "payment token was already used; tokenize the card again",
    )
    authorize = payments_pb2.AuthorizeRequest(
        idempotency_key=uuid4().hex,
        order_reference=again.order_reference,
        user_id=7,
        amount=again.amount,
        method=again.method,
    )
    assert (await _error(payments.Authorize(authorize, metadata=svc)))[
        0
    ] == grpc.StatusCode.FAILED_PRECONDITION
    listed = await payments.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=again.order_reference), metadata=svc
    )
    assert list(listed.payments) == []


async def test_concurrent_charges_with_one_token_make_one_payment(
    payments: Stub, svc: Meta, port: int
) -> None:
    token = await _token(port)
    reference = f"order:{uuid4().hex}"
    results = await asyncio.gather(
        *(payments.Charge(_charge(token, reference=reference), metadata=svc) for _ in range(8)),
        return_exceptions=True,
    )
    paid = [r for r in results if isinstance(r, payments_pb2.ChargeResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(paid) == 1, results
    assert {(e.code(), e.details()) for e in refused} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "payment token was already used; tokenize the card again")
    }
    listed = await payments.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=reference), metadata=svc
    )
    assert [p.id for p in listed.payments] == [paid[0].payment.id]


async def test_a_declined_token_is_spent_and_a_timed_out_one_may_be_retried(
    payments: Stub, svc: Meta, port: int
) -> None:
    declined = await _token(port, "4000000000000002")
    code = await _error(payments.Charge(_charge(declined), metadata=svc))
    assert code == (grpc.StatusCode.FAILED_PRECONDITION, "card declined")
    assert (await _error(payments.Charge(_charge(declined), metadata=svc)))[1].startswith(
        "payment token was already used"
    )
    # The provider never answered: the key and the token are free for the caller's retry.
    timeout = _charge(await _token(port, "4000000000000119"))
    for _ in range(2):
        assert await _error(payments.Charge(timeout, metadata=svc)) == (
            grpc.StatusCode.UNAVAILABLE,
            "payment provider timed out",
        )


async def test_magic_test_tokens_are_reusable(payments: Stub, svc: Meta) -> None:
    for _ in range(2):
        paid = (await payments.Charge(_charge("tok_test_visa"), metadata=svc)).payment
        assert (paid.status, paid.card_last4) == (payments_pb2.PAYMENT_STATUS_CAPTURED, "4242")
        assert await _error(payments.Charge(_charge("tok_test_declined"), metadata=svc)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "card declined",
        )


# --- expiry and CORS: a payments instance of its own, on a clock the test moves -----------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def timed(platform: Platform, clock: FakeClock) -> AsyncIterator[RunningService]:
    settings = platform.settings(
        "payments", grpc_port=free_port(), payment_token_ttl_seconds=900, cors_origins=ORIGIN
    )
    running = await start(settings, lambda runtime: build_with(runtime, TestProvider(), clock))
    try:
        yield running
    finally:
        await running.stop(grace=0)


async def test_a_token_expires(timed: RunningService, clock: FakeClock, svc: Meta) -> None:
    port = timed.runtime.http_ports["tokens"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{timed.port}") as channel:
        stub = Stub(channel)
        late, in_time = await _token(port), await _token(port)
        clock.advance(timedelta(seconds=899))
        assert (await stub.Charge(_charge(in_time), metadata=svc)).payment.status == (
            payments_pb2.PAYMENT_STATUS_CAPTURED
        )
        clock.advance(timedelta(seconds=2))
        assert await _error(stub.Charge(_charge(late), metadata=svc)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "payment token has expired; tokenize the card again",
        )


async def test_shop_origins_may_tokenize_from_a_browser(timed: RunningService) -> None:
    url = tokens_url(timed.runtime.http_ports["tokens"])
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as session:
        async with session.options(url, headers=preflight) as reply:
            assert reply.status == 204
            assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "POST" in reply.headers["Access-Control-Allow-Methods"]
        async with session.post(url, json=GOOD, headers={"Origin": ORIGIN}) as reply:
            assert reply.status == 201
            assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
        async with session.post(url, json=GOOD, headers={"Origin": "http://evil.test"}) as reply:
            assert reply.status == 201  # no auth: but a browser on another origin cannot read it
            assert "Access-Control-Allow-Origin" not in reply.headers
