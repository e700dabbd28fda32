"""Recovery: finishes or rolls back checkouts that stopped half-way (the process was killed, or
inventory was down when the stock was to be committed), and creates shipments that shipping
could not take at the time.

A PENDING order older than the threshold is decided by what payments recorded under its
reference (asked with this service's own token):

    captured  -> commit the reservation (or take the stock directly if the hold expired; refund
                 and fail if the stock is gone), mark PAID, create the shipment
    nothing   -> release the reservation, mark FAILED

The threshold is far above a checkout's own time budget, so a checkout still running is never
decided under it. Runs once at start-up and then every `recovery_interval_seconds`. Even if orders
never comes back, inventory's sweeper expires the reservation, so no stock is held forever.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import grpc

from services.kit import timestamps
from services.kit.errors import DomainError
from shop.cart.v1 import cart_pb2
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

from .checkout import Checkout
from .domain import Status
from .downstream import Downstream, answered
from .store import OrdersStore, OrderView

log = logging.getLogger(__name__)

SYSTEM = "system:recovery"
BATCH = 100
_CAPTURED = (payments_pb2.PAYMENT_STATUS_CAPTURED, payments_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED)


@dataclass
class Outcome:
    paid: int = 0
    failed: int = 0
    shipped: int = 0
    skipped: int = 0


class Recovery:
    def __init__(
        self, store: OrdersStore, downstream: Downstream, checkout: Checkout, after_seconds: float
    ) -> None:
        self._store = store
        self._down = downstream
        self._checkout = checkout
        self._after = timedelta(seconds=after_seconds)

    async def run_once(self) -> Outcome:
        outcome = Outcome()
        for view in await self._store.stuck(timestamps.now() - self._after, BATCH):
            try:
                await self._settle(view, outcome)
            except (grpc.aio.AioRpcError, DomainError) as exc:
                # A service it needs is down: the next pass tries again.
                outcome.skipped += 1
                log.warning(
                    "stuck order not settled yet", extra={"order_id": view.order.id, "error": str(exc)}
                )
        for view in await self._store.awaiting_shipment(BATCH):
            await self._checkout.ship(view)
            after = await self._store.get(view.order.id)
            if after is not None and after.order.shipment_id:
                outcome.shipped += 1
        if outcome.paid or outcome.failed or outcome.skipped or outcome.shipped:
            log.info("recovery pass", extra=outcome.__dict__)
        return outcome

    async def run(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the database or a service hiccup must not end the loop
                log.warning("recovery pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(interval_seconds)

    async def _settle(self, view: OrderView, outcome: Outcome) -> None:
        order = view.order
        reference = f"order:{order.id}"
        payments = await self._down.payments_of(reference)
        captured = next((p for p in payments if p.status in _CAPTURED), None)
        reservation = await self._reservation(view)
        if captured is None:
            if reservation is not None and reservation.state == inventory_pb2.RESERVATION_STATE_HELD:
                await self._checkout.release(order.id, reservation.id, "checkout interrupted", Status.PENDING)
            await self._store.transition(
                order.id, [Status.PENDING], Status.FAILED, "checkout interrupted before payment", SYSTEM
            )
            outcome.failed += 1
            return
        committed = False
        if reservation is not None:
            try:
                await self._down.commit(reservation.id)
                committed = True
            except grpc.aio.AioRpcError as exc:
                if not answered(exc):
                    raise
        if not committed and not await self._checkout.take_directly(
            view, "checkout recovered after its hold"
        ):
            await self._checkout.refund(order.id, captured.id, f"{reference}:refund", Status.PENDING)
            await self._store.transition(
                order.id,
                [Status.PENDING],
                Status.FAILED,
                f"checkout interrupted; stock gone, payment {captured.id} refunded",
                SYSTEM,
            )
            outcome.failed += 1
            return
        await self._store.note(
            order.id, Status.PENDING, f"checkout recovered: payment {captured.id} captured", SYSTEM
        )
        paid = await self._checkout.mark_paid(view, captured)
        await self._checkout.ship(paid)
        await self._clear_cart(order.id, order.user_id)
        outcome.paid += 1

    async def _clear_cart(self, order_id: int, user_id: int) -> None:
        """What checkout would have done last: the customer must not buy the same cart twice."""
        try:
            await self._down.cart.ClearCart(
                cart_pb2.ClearCartRequest(user_id=user_id), metadata=await self._down.service_metadata()
            )
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.warning("cart not cleared after recovery", extra={"order_id": order_id, "error": str(exc)})

    async def _reservation(self, view: OrderView) -> inventory_pb2.Reservation | None:
        """The order's reservation. If the id was never stored (killed right after Reserve),
        Reserve again: it is idempotent per reference and answers with the first hold (or holds
        now, which the caller releases or commits like the original)."""
        order = view.order
        if order.reservation_id:
            return inventory_pb2.Reservation(
                id=order.reservation_id, state=inventory_pb2.RESERVATION_STATE_HELD
            )
        lines = [(line.product_id, line.quantity) for line in view.lines]
        try:
            reservation = await self._down.reserve(f"order:{order.id}", lines, 60)
        except grpc.aio.AioRpcError as exc:
            if answered(exc):
                return None  # nothing could be held, so nothing is held
            raise
        await self._store.update(order.id, reservation_id=reservation.id)
        return reservation
