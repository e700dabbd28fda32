"""Telling the orders service what a shipment's progress means for its order, reliably.

Every status change that implies an order status (in transit -> shipped, delivered -> delivered)
leaves a row in `order_updates` in the same transaction as the event (see the store). Each row is
tried at once after the event is recorded, and then by a background loop with exponential backoff
until orders takes it, so an order still reaches DELIVERED when orders was down at the time.
A row is claimed (leased) before each attempt, so several shipping replicas never both try it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import grpc

from services.kit import deadlines, timestamps
from services.kit.clients import ServiceToken
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

from . import domain
from .store import OrderUpdateRow, ShippingStore

log = logging.getLogger("shop.shipping.sync")

LEASE = timedelta(seconds=30)
# How long an RPC that recorded an event waits for orders to take the update before answering
# anyway (the update then finishes, or is retried, in the background), and the time that gets.
INLINE_WAIT_SECONDS = 2.0
INLINE_BUDGET_SECONDS = 10.0
MAX_RETRY_SECONDS = 300.0
BATCH = 50

_ORDER_STATUS = {
    "shipped": orders_pb2.ORDER_STATUS_SHIPPED,
    "delivered": orders_pb2.ORDER_STATUS_DELIVERED,
}


def _order_status_name(value: int) -> str:
    name: str = orders_pb2.OrderStatus.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("ORDER_STATUS_").lower()


class OrderSync:
    def __init__(
        self,
        store: ShippingStore,
        orders: orders_pb2_grpc.OrdersServiceStub,
        token: ServiceToken,
        interval_seconds: float,
        retry_seconds: float,
    ) -> None:
        self._store = store
        self._orders = orders
        self._token = token
        self._interval = interval_seconds
        self._retry = retry_seconds
        self._inflight: set[asyncio.Task[Any]] = set()

    async def settle_order(self, order_id: int) -> None:
        """Tries the order's outstanding updates now; whatever fails is left to the loop."""
        for update in await self._store.pending_order_updates(order_id):
            await self._attempt(update, fresh=update.attempts == 0)

    async def settle_soon(self, order_id: int) -> None:
        """Starts `settle_order` with a deadline of its own and waits for it a little: a slow orders
        service delays the caller by at most INLINE_WAIT_SECONDS and never fails its RPC."""

        async def run() -> None:
            deadlines.set_deadline(time.monotonic() + INLINE_BUDGET_SECONDS)
            try:
                await self.settle_order(order_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("order update failed; the background loop retries it")

        task = asyncio.create_task(run(), name=f"shipping-settle-{order_id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.wait({task}, timeout=INLINE_WAIT_SECONDS)

    async def run_once(self) -> None:
        for update in await self._store.due_order_updates(timestamps.now(), BATCH):
            await self._attempt(update)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("order sync pass failed")
            await asyncio.sleep(self._interval)

    async def cancel_inflight(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _attempt(self, update: OrderUpdateRow, *, fresh: bool = False) -> None:
        now = timestamps.now()
        if not await self._store.claim_order_update(update.id, now, now + LEASE, fresh=fresh):
            return  # not due yet, done, or another worker has it
        target = domain.OrderTarget(update.target)
        try:
            metadata = await self._token.metadata()
            reply = await self._orders.GetOrder(
                orders_pb2.GetOrderRequest(id=update.order_id), metadata=metadata
            )
            current = _order_status_name(reply.order.status)
            steps = domain.order_steps(current, target)
            if steps is None:
                note = f"order {update.order_id} is {current}; not moved to {target}"
                log.warning("order update skipped", extra={"order_id": update.order_id, "note": note})
                await self._store.settle_order_update(update.id, note)
                return
            for step in steps:
                await self._orders.UpdateOrderStatus(
                    orders_pb2.UpdateOrderStatusRequest(
                        id=update.order_id,
                        status=_ORDER_STATUS[step],
                        note=f"shipment {update.shipment_id} {target}",
                    ),
                    metadata=metadata,
                )
            await self._store.settle_order_update(update.id, "")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.NOT_FOUND:
                await self._store.settle_order_update(update.id, f"order {update.order_id} not found")
                return
            # Down, timed out, raced by another change (re-read next time), or anything else.
            delay = domain.retry_delay(update.attempts + 1, self._retry, MAX_RETRY_SECONDS)
            error = (
                f"{type(exc).__name__}: {exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else exc}"
            )
            log.info(
                "order update will be retried",
                extra={
                    "order_id": update.order_id,
                    "target": str(target),
                    "in_seconds": delay,
                    "error": error,
                },
            )
            await self._store.retry_order_update(update.id, now + timedelta(seconds=delay), error)
