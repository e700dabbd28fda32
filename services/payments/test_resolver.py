"""A provider call whose answer payments never recorded (the process died waiting) is settled from
the provider's own record once payments runs again: real gRPC, a real database, two servicer
instances one after the other as two processes would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import grpc
import pytest

from services.kit.clients import CHANNEL_OPTIONS
from services.kit.server import RunningService, start
from services.payments.providers import ProviderResult, TestProvider
from services.payments.service import build_with
from shop.common.v1 import common_pb2
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

Stub = payments_pb2_grpc.PaymentsServiceStub
Meta = tuple[tuple[str, str]]


class StallingProvider(TestProvider):
    """A TestProvider that, while `stall` is set, never returns from a capture or a refund: before
    or after it took effect at the provider. The stalled call stands for a process that died there."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: str = ""  # "", "before-capture" or "after-capture"
        self.stalled: list[asyncio.Task[Any]] = []

    async def capture(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        if self.stall == "before-capture":
            await self._hang()
        result = await super().capture(payment_id, reference, amount_minor, currency)
        if self.stall == "after-capture":
            await self._hang()
        return result

    async def refund(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        if self.stall == "before-refund":
            await self._hang()
        result = await super().refund(payment_id, reference, amount_minor, currency)
        if self.stall == "after-refund":
            await self._hang()
        return result

    async def _hang(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.stalled.append(task)
        await asyncio.sleep(3600)


Launch = Callable[[TestProvider], Awaitable[tuple[RunningService, Stub]]]


@pytest.fixture
async def launch(platform: Platform) -> AsyncIterator[Launch]:
    """Starts payments instances on the suite's payments database, each with its own provider."""
    running: list[tuple[RunningService, grpc.aio.Channel]] = []
    providers: list[StallingProvider | TestProvider] = []

    async def launch_one(provider: TestProvider) -> tuple[RunningService, Stub]:
        providers.append(provider)
        # Unfinished calls are looked up after 0.1 s, every 0.05 s.
        settings = platform.settings(
            "payments",
            grpc_port=free_port(),
            provider_lookup_after_seconds=0.1,
            provider_lookup_interval_seconds=0.05,
        )
        service = await start(
            settings,
            lambda runtime: build_with(runtime, provider),
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}", options=CHANNEL_OPTIONS)
        running.append((service, channel))
        return service, Stub(channel)

    yield launch_one
    for service, channel in running:
        await channel.close()
        await service.stop(grace=0)
    for provider in providers:  # the "dead" calls never come back
        for task in getattr(provider, "stalled", []):
            task.cancel()


@pytest.fixture
def svc(tokens: TokenFactory) -> Meta:
    return bearer(tokens.service("orders"))


def _charge(reference: str, key: str) -> payments_pb2.ChargeRequest:
    return payments_pb2.ChargeRequest(
        idempotency_key=key,
        order_reference=reference,
        user_id=7,
        amount=common_pb2.Money(amount_minor=1999, currency="USD"),
        method=payments_pb2.PaymentMethod(token="tok_test_visa"),
    )


async def _payments(stub: Stub, svc: Meta, reference: str) -> list[payments_pb2.Payment]:
    reply = await stub.ListPayments(payments_pb2.ListPaymentsRequest(order_reference=reference), metadata=svc)
    return list(reply.payments)


async def _charge_that_dies(
    launch: Launch, svc: Meta, provider: StallingProvider, stall: str
) -> tuple[str, str]:
    """A charge whose instance stalls at the provider and is then stopped; its key stays claimed."""
    reference, key = f"order:{uuid4().hex}", uuid4().hex
    provider.stall = stall
    dying, stub = await launch(provider)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Charge(_charge(reference, key), metadata=svc, timeout=1)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Its own resolver leaves a call still running in its process alone.
    await asyncio.sleep(0.3)
    (pending,) = await _payments(stub, svc, reference)
    assert pending.status == payments_pb2.PAYMENT_STATUS_UNSPECIFIED
    await dying.stop(grace=0)
    provider.stall = ""
    return reference, key


async def test_a_charge_captured_at_the_provider_is_recorded_as_captured(launch: Launch, svc: Meta) -> None:
    provider = StallingProvider()  # the provider's records outlive our process, as a processor's do
    reference, key = await _charge_that_dies(launch, svc, provider, "after-capture")
    _, stub = await launch(provider)

    async def captured() -> bool:
        (payment,) = await _payments(stub, svc, reference)
        return payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED

    await eventually(captured)
    (payment,) = await _payments(stub, svc, reference)
    assert [e.type for e in payment.events] == ["authorized", "captured"]
    assert payment.card_last4 == "4242"
    # The caller's retry with its key gets that payment: charged once.
    again = await stub.Charge(_charge(reference, key), metadata=svc)
    assert (again.payment.id, again.payment.status) == (payment.id, payments_pb2.PAYMENT_STATUS_CAPTURED)
    assert len(await _payments(stub, svc, reference)) == 1


async def test_a_charge_only_authorized_at_the_provider_is_voided(launch: Launch, svc: Meta) -> None:
    provider = StallingProvider()
    reference, _ = await _charge_that_dies(launch, svc, provider, "before-capture")
    _, stub = await launch(provider)

    async def failed() -> bool:
        (payment,) = await _payments(stub, svc, reference)
        return payment.status == payments_pb2.PAYMENT_STATUS_FAILED

    await eventually(failed)
    (payment,) = await _payments(stub, svc, reference)
    assert [e.type for e in payment.events] == ["authorized", "voided"]
    record = await provider.find(payment.id)
    assert record is not None
    assert (record.voided, record.capture_reference) == (True, "")


async def test_a_charge_the_provider_never_saw_fails_and_frees_its_key(launch: Launch, svc: Meta) -> None:
    reference, key = await _charge_that_dies(launch, svc, StallingProvider(), "after-capture")
    # A provider without that payment (a sandbox that was reset): nothing was charged.
    _, stub = await launch(TestProvider())

    async def failed() -> bool:
        (payment,) = await _payments(stub, svc, reference)
        return payment.status == payments_pb2.PAYMENT_STATUS_FAILED

    await eventually(failed)
    retried = await stub.Charge(_charge(reference, key), metadata=svc)
    assert retried.payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    statuses = sorted(p.status for p in await _payments(stub, svc, reference))
    assert statuses == [payments_pb2.PAYMENT_STATUS_CAPTURED, payments_pb2.PAYMENT_STATUS_FAILED]


@pytest.mark.parametrize("stall", ["after-refund", "before-refund"])
async def test_a_refund_left_unfinished_is_settled_by_the_providers_refunded_total(
    launch: Launch, svc: Meta, stall: str
) -> None:
    provider = StallingProvider()
    dying, stub = await launch(provider)
    reference = f"order:{uuid4().hex}"
    charged = (await stub.Charge(_charge(reference, uuid4().hex), metadata=svc)).payment
    refund = payments_pb2.RefundRequest(payment_id=charged.id, idempotency_key=uuid4().hex)
    provider.stall = stall
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Refund(refund, metadata=svc, timeout=1)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await dying.stop(grace=0)
    provider.stall = ""
    _, stub = await launch(provider)
    refunded_at_provider = stall == "after-refund"

    async def resolved() -> bool:
        (payment,) = await _payments(stub, svc, reference)
        return payment.events[-1].type == ("refunded" if refunded_at_provider else "refund_failed")

    await eventually(resolved)
    (payment,) = await _payments(stub, svc, reference)
    expected = (
        (payments_pb2.PAYMENT_STATUS_REFUNDED, 1999)
        if refunded_at_provider
        else (
            payments_pb2.PAYMENT_STATUS_CAPTURED,
            0,
        )
    )
    assert (payment.status, payment.refunded.amount_minor) == expected
    # Either way the caller's retry with its key ends refunded, and the money went back once.
    again = await stub.Refund(refund, metadata=svc)
    assert (again.payment.status, again.payment.refunded.amount_minor) == (
        payments_pb2.PAYMENT_STATUS_REFUNDED,
        1999,
    )
    record = await provider.find(charged.id)
    assert record is not None
    assert record.refunded_minor == 1999
