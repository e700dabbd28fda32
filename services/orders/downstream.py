"""The services orders calls, with the few rules every call follows:

- calls that need the service role (stock, payments) carry this service's own token;
- a failure is *answered* when the other service said no on purpose (a domain error, which the
  kit marks with `shop-error-code` trailing metadata) and *unknown* otherwise (down, deadline,
  internal error): the request may or may not have taken effect;
- calls that are idempotent per reference or key (AdjustStock, Charge, Refund) are retried once
  when the outcome is unknown, which settles it without risk of doing anything twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from services.kit import deadlines
from services.kit.clients import Metadata, ServiceToken
from services.kit.errors import DomainError
from shop.cart.v1 import cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

from .domain import OrderError

T = TypeVar("T")

_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# Time given to finish a flow once it has started changing other services (taking stock,
# charging, compensating), independent of the caller's remaining deadline.
FLOW_BUDGET_SECONDS = 30.0

_background: set[asyncio.Task[Any]] = set()


def error_code(exc: grpc.aio.AioRpcError) -> str | None:
    """The domain error name the other service answered with, or None if it did not answer."""
    for key, value in exc.trailing_metadata() or ():
        if key == "shop-error-code":
            return str(value)
    return None


def answered(exc: grpc.aio.AioRpcError) -> bool:
    return error_code(exc) is not None


def transient(exc: grpc.aio.AioRpcError) -> bool:
    return not answered(exc) and exc.code() in _TRANSIENT


async def to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a flow to its end even if the RPC that started it is cancelled or runs out of time:
    a half-done checkout or cancel (stock taken, nobody charged) is worse than a late answer.
    The flow gets a fresh deadline of its own for the calls it makes."""

    async def run() -> T:
        deadlines.set_deadline(time.monotonic() + FLOW_BUDGET_SECONDS)
        return await coro

    task = asyncio.ensure_future(run())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return await asyncio.shield(task)


async def once_more_if_unknown(call: Callable[[], Awaitable[T]]) -> T:
    """Calls an idempotent RPC; if its outcome is unknown, asks again once to learn it."""
    try:
        return await call()
    except grpc.aio.AioRpcError as exc:
        if not transient(exc):
            raise
    return await call()


@dataclass
class Downstream:
    cart: cart_pb2_grpc.CartServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    payments: payments_pb2_grpc.PaymentsServiceStub
    token: ServiceToken

    async def service_metadata(self) -> Metadata:
        try:
            return await self.token.metadata()
        except grpc.aio.AioRpcError as exc:
            raise DomainError(OrderError.DEPENDENCY_UNAVAILABLE, "auth service unavailable") from exc

    async def adjust_stock(self, lines: Sequence[tuple[int, int]], reference: str, reason: str) -> None:
        """Adds (positive) or takes (negative) stock for all lines or none; idempotent per reference."""
        request = inventory_pb2.AdjustStockRequest(
            lines=[inventory_pb2.StockLine(product_id=p, quantity=q) for p, q in lines],
            reference=reference,
            reason=reason,
        )

        async def call() -> None:
            await self.inventory.AdjustStock(request, metadata=await self.service_metadata())

        await once_more_if_unknown(call)

    async def charge(self, request: payments_pb2.ChargeRequest) -> payments_pb2.Payment:
        async def call() -> payments_pb2.Payment:
            reply: payments_pb2.ChargeResponse = await self.payments.Charge(
                request, metadata=await self.service_metadata()
            )
            return reply.payment

        return await once_more_if_unknown(call)

    async def refund(self, payment_id: str, key: str, reason: str) -> payments_pb2.Payment:
        """A full refund of what is left; idempotent per key."""
        request = payments_pb2.RefundRequest(payment_id=payment_id, idempotency_key=key, reason=reason)

        async def call() -> payments_pb2.Payment:
            reply: payments_pb2.RefundResponse = await self.payments.Refund(
                request, metadata=await self.service_metadata()
            )
            return reply.payment

        return await once_more_if_unknown(call)
