from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any
from uuid import uuid4

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.support.cards import tokenize
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

Stub = payments_pb2_grpc.PaymentsServiceStub
GOOD_CARD = "4242424242424242"
VISA = payments_pb2.PaymentMethod(token="tok_test_visa")


@pytest.fixture
async def payments(platform: Platform) -> Stub:
    await platform.start("payments")
    return platform.stub(Stub, "payments")


@pytest.fixture
def svc(tokens: TokenFactory) -> tuple[tuple[str, str]]:
    return bearer(tokens.service("orders"))


def _usd(cents: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=cents, currency="USD")


def _card(number: str = GOOD_CARD) -> payments_pb2.PaymentMethod:
    """Card data as the contract still has room for (and payments refuses)."""
    return payments_pb2.PaymentMethod(
        card=payments_pb2.Card(number=number, exp_month=12, exp_year=2099, cvc="123", holder_name="A B")
    )


async def _token(platform: Platform, number: str = GOOD_CARD) -> payments_pb2.PaymentMethod:
    return payments_pb2.PaymentMethod(token=await tokenize(platform, number))


def _charge(
    cents: int = 1000,
    method: payments_pb2.PaymentMethod | None = None,
    key: str | None = None,
    reference: str | None = None,
    user_id: int = 7,
) -> payments_pb2.ChargeRequest:
    return payments_pb2.ChargeRequest(
        idempotency_key=key or uuid4().hex,
        order_reference=reference or f"order:{uuid4().hex}",
        user_id=user_id,
        amount=_usd(cents),
        method=method or VISA,
    )


async def _code(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


async def test_charge_captures_and_owner_can_read(
    payments: Stub, svc: tuple[tuple[str, str]], tokens: TokenFactory, platform: Platform
) -> None:
    reply = await payments.Charge(
        _charge(2599, user_id=4711, method=await _token(platform, "5555555555554444")), metadata=svc
    )
    payment = reply.payment
    assert payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    assert (payment.amount.amount_minor, payment.amount.currency, payment.refunded.amount_minor) == (
        2599,
        "USD",
        0,
    )
    assert payment.card_last4 == "4444"
    assert payment.provider == "test"
    assert [e.type for e in payment.events] == ["authorized", "captured"]
    assert "5555555555554444" not in str(payment)

    got = await payments.GetPayment(
        payments_pb2.GetPaymentRequest(id=payment.id), metadata=bearer(tokens.customer(4711))
    )
    assert got.payment.id == payment.id
    assert (
        await payments.GetPayment(
            payments_pb2.GetPaymentRequest(id=payment.id), metadata=bearer(tokens.admin())
        )
    ).payment.id
    code, _ = await _code(
        payments.GetPayment(
            payments_pb2.GetPaymentRequest(id=payment.id), metadata=bearer(tokens.customer(4712))
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_tokens_select_the_outcome(payments: Stub, svc: tuple[tuple[str, str]]) -> None:
    ok = await payments.Charge(
        _charge(method=payments_pb2.PaymentMethod(token="tok_test_visa")), metadata=svc
    )
    assert ok.payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    code, detail = await _code(
        payments.Charge(_charge(method=payments_pb2.PaymentMethod(token="tok_test_declined")), metadata=svc)
    )
    assert (code, detail) == (grpc.StatusCode.FAILED_PRECONDITION, "card declined")


@pytest.mark.parametrize(
    ("number", "code", "detail"),
    [
        ("4000000000000002", grpc.StatusCode.FAILED_PRECONDITION, "card declined"),
        ("4000000000009995", grpc.StatusCode.FAILED_PRECONDITION, "insufficient funds"),
        ("4000000000000119", grpc.StatusCode.UNAVAILABLE, "payment provider timed out"),
    ],
)
async def test_tokenized_test_cards_select_the_outcome(
    payments: Stub,
    svc: tuple[tuple[str, str]],
    platform: Platform,
    number: str,
    code: grpc.StatusCode,
    detail: str,
) -> None:
    request = _charge(method=await _token(platform, number))
    assert await _code(payments.Charge(request, metadata=svc)) == (code, detail)
    # Asking again with the same key answers the same way and never makes a second payment.
    assert await _code(payments.Charge(request, metadata=svc)) == (code, detail)
    listed = await payments.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=request.order_reference), metadata=svc
    )
    statuses = {p.status for p in listed.payments}
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        assert len(listed.payments) == 1
        assert statuses == {payments_pb2.PAYMENT_STATUS_DECLINED}
    else:
        # A provider that did not answer leaves a failed attempt; the key stays free for a retry.
        assert statuses == {payments_pb2.PAYMENT_STATUS_FAILED}


async def test_the_slow_card_is_approved_after_a_while(
    payments: Stub, svc: tuple[tuple[str, str]], platform: Platform
) -> None:
    method = await _token(platform, "4000000000000077")
    started = time.monotonic()
    reply = await payments.Charge(_charge(method=method), metadata=svc)
    assert reply.payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    assert time.monotonic() - started >= 3.0


@pytest.mark.parametrize(
    ("method", "detail"),
    [
        (_card(), "card data is not accepted; tokenize it first"),
        (_card("4242424242424241"), "card data is not accepted; tokenize it first"),
        (payments_pb2.PaymentMethod(token=""), "payment token must not be empty"),
        (
            payments_pb2.PaymentMethod(token="tok_" + "x" * 300),
            "payment token must be at most 200 characters",
        ),
        (payments_pb2.PaymentMethod(token="tok_never_issued"), "unknown payment token"),
        (payments_pb2.PaymentMethod(), "method is required: a payment token"),
    ],
)
async def test_bad_methods_are_invalid_argument(
    payments: Stub, svc: tuple[tuple[str, str]], method: payments_pb2.PaymentMethod, detail: str
) -> None:
    for rpc in (payments.Charge, payments.Authorize):
        request = _charge()
        request.method.CopyFrom(method)
        code, message = await _code(rpc(request, metadata=svc))
        assert (code, message) == (grpc.StatusCode.INVALID_ARGUMENT, detail)
        # Nothing is recorded for a refused method.
        listed = await payments.ListPayments(
            payments_pb2.ListPaymentsRequest(order_reference=request.order_reference), metadata=svc
        )
        assert list(listed.payments) == []


async def test_bad_requests_are_invalid_argument(payments: Stub, svc: tuple[tuple[str, str]]) -> None:
    for request in [
        payments_pb2.ChargeRequest(order_reference="o", user_id=1, amount=_usd(1), method=VISA),
        payments_pb2.ChargeRequest(idempotency_key="k1", order_reference="o", user_id=1, method=VISA),
        payments_pb2.ChargeRequest(
            idempotency_key="k1", order_reference="o", user_id=1, amount=_usd(0), method=VISA
        ),
        payments_pb2.ChargeRequest(idempotency_key="k1", user_id=1, amount=_usd(1), method=VISA),
        payments_pb2.ChargeRequest(idempotency_key="k1", order_reference="o", amount=_usd(1), method=VISA),
        payments_pb2.ChargeRequest(
            idempotency_key="k1",
            order_reference="o",
            user_id=1,
            amount=common_pb2.Money(amount_minor=1, currency="usd"),
            method=VISA,
        ),
    ]:
        code, _ = await _code(payments.Charge(request, metadata=svc))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, request


async def test_only_services_charge(payments: Stub, tokens: TokenFactory) -> None:
    code, _ = await _code(payments.Charge(_charge(), metadata=bearer(tokens.customer(9_000_007))))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await _code(payments.Charge(_charge(), metadata=bearer(tokens.admin())))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await _code(payments.Charge(_charge()))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = await _code(
        payments.ListPayments(payments_pb2.ListPaymentsRequest(), metadata=bearer(tokens.customer(9_000_007)))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_concurrent_charges_with_one_key_make_one_payment(
    payments: Stub, svc: tuple[tuple[str, str]]
) -> None:
    request = _charge(4200)
    replies = await asyncio.gather(*(payments.Charge(request, metadata=svc) for _ in range(10)))
    assert len({r.payment.id for r in replies}) == 1
    assert {r.payment.status for r in replies} == {payments_pb2.PAYMENT_STATUS_CAPTURED}
    listed = await payments.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=request.order_reference), metadata=svc
    )
    assert len(listed.payments) == 1
    # A later replay still answers with the same payment.
    again = await payments.Charge(request, metadata=svc)
    assert again.payment.id == replies[0].payment.id


async def test_a_key_reused_for_another_request_is_rejected(
    payments: Stub, svc: tuple[tuple[str, str]]
) -> None:
    request = _charge(1000)
    await payments.Charge(request, metadata=svc)
    request.amount.amount_minor = 1001
    code, _ = await _code(payments.Charge(request, metadata=svc))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_partial_then_full_refund_never_exceeds_the_capture(
    payments: Stub, svc: tuple[tuple[str, str]]
) -> None:
    payment = (await payments.Charge(_charge(1000), metadata=svc)).payment
    first = payments_pb2.RefundRequest(payment_id=payment.id, idempotency_key=uuid4().hex, amount=_usd(300))
    partial = (await payments.Refund(first, metadata=svc)).payment
    assert (partial.status, partial.refunded.amount_minor) == (
        payments_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED,
        300,
    )
    # Same key: the same answer, no second refund.
    again = (await payments.Refund(first, metadata=svc)).payment
    assert again.refunded.amount_minor == 300

    too_much = payments_pb2.RefundRequest(
        payment_id=payment.id, idempotency_key=uuid4().hex, amount=_usd(701)
    )
    code, _ = await _code(payments.Refund(too_much, metadata=svc))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    wrong_currency = payments_pb2.RefundRequest(
        payment_id=payment.id,
        idempotency_key=uuid4().hex,
        amount=common_pb2.Money(amount_minor=1, currency="EUR"),
    )
    code, _ = await _code(payments.Refund(wrong_currency, metadata=svc))
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    rest = (
        await payments.Refund(
            payments_pb2.RefundRequest(payment_id=payment.id, idempotency_key=uuid4().hex), metadata=svc
        )
    ).payment
    assert (rest.status, rest.refunded.amount_minor) == (payments_pb2.PAYMENT_STATUS_REFUNDED, 1000)
    assert [e.amount.amount_minor for e in rest.events if e.type == "refunded"] == [300, 700]
    code, _ = await _code(
        payments.Refund(
            payments_pb2.RefundRequest(payment_id=payment.id, idempotency_key=uuid4().hex), metadata=svc
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_concurrent_refunds_stop_at_the_captured_amount(
    payments: Stub, svc: tuple[tuple[str, str]]
) -> None:
    payment = (await payments.Charge(_charge(1000), metadata=svc)).payment
    requests = [
        payments_pb2.RefundRequest(payment_id=payment.id, idempotency_key=uuid4().hex, amount=_usd(300))
        for _ in range(6)
    ]
    results = await asyncio.gather(
        *(payments.Refund(r, metadata=svc) for r in requests), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, payments_pb2.RefundResponse)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 3
    assert {e.code() for e in failed} == {grpc.StatusCode.FAILED_PRECONDITION}
    got = await payments.GetPayment(payments_pb2.GetPaymentRequest(id=payment.id), metadata=svc)
    assert got.payment.refunded.amount_minor == 900


async def test_refund_of_unknown_or_uncaptured_payment(payments: Stub, svc: tuple[tuple[str, str]]) -> None:
    code, _ = await _code(
        payments.Refund(
            payments_pb2.RefundRequest(payment_id=str(uuid4()), idempotency_key=uuid4().hex), metadata=svc
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await _code(
        payments.Refund(
            payments_pb2.RefundRequest(payment_id="nope", idempotency_key=uuid4().hex), metadata=svc
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    request = _charge(method=payments_pb2.PaymentMethod(token="tok_test_declined"))
    await _code(payments.Charge(request, metadata=svc))
    listed = await payments.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=request.order_reference), metadata=svc
    )
    code, _ = await _code(
        payments.Refund(
            payments_pb2.RefundRequest(payment_id=listed.payments[0].id, idempotency_key=uuid4().hex),
            metadata=svc,
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_authorize_capture_void(payments: Stub, svc: tuple[tuple[str, str]]) -> None:
    def authorize() -> payments_pb2.AuthorizeRequest:
        return payments_pb2.AuthorizeRequest(
            idempotency_key=uuid4().hex,
            order_reference=f"order:{uuid4().hex}",
            user_id=3,
            amount=_usd(500),
            method=VISA,
        )

    held = (await payments.Authorize(authorize(), metadata=svc)).payment
    assert held.status == payments_pb2.PAYMENT_STATUS_AUTHORIZED
    # Nothing to refund before capture.
    code, _ = await _code(
        payments.Refund(
            payments_pb2.RefundRequest(payment_id=held.id, idempotency_key=uuid4().hex), metadata=svc
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    capture = payments_pb2.CaptureRequest(payment_id=held.id, idempotency_key=uuid4().hex)
    captured = (await payments.Capture(capture, metadata=svc)).payment
    assert captured.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    assert (
        await payments.Capture(capture, metadata=svc)
    ).payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    code, _ = await _code(
        payments.Void(payments_pb2.VoidRequest(payment_id=held.id, idempotency_key=uuid4().hex), metadata=svc)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    other = (await payments.Authorize(authorize(), metadata=svc)).payment
    voided = (
        await payments.Void(
            payments_pb2.VoidRequest(payment_id=other.id, idempotency_key=uuid4().hex), metadata=svc
        )
    ).payment
    assert voided.status == payments_pb2.PAYMENT_STATUS_VOIDED
    code, _ = await _code(
        payments.Capture(
            payments_pb2.CaptureRequest(payment_id=other.id, idempotency_key=uuid4().hex), metadata=svc
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_list_pages_newest_first(payments: Stub, svc: tuple[tuple[str, str]]) -> None:
    reference = f"order:{uuid4().hex}"
    ids = [
        (await payments.Charge(_charge(100 + i, reference=reference), metadata=svc)).payment.id
        for i in range(5)
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await payments.ListPayments(
            payments_pb2.ListPaymentsRequest(order_reference=reference, page_size=2, page_token=token),
            metadata=svc,
        )
        assert len(page.payments) <= 2
        seen += [p.id for p in page.payments]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    code, _ = await _code(
        payments.ListPayments(payments_pb2.ListPaymentsRequest(page_token="%%%"), metadata=svc)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
