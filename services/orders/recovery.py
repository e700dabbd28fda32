"""Recovery: finishes or rolls back checkouts that stopped half-way (the process was killed, or
inventory was down when the stock was to be committed), and creates shipments that shipping
could not take at the time.

A PENDING order older than the threshold is decided by what payments recorded under its
reference (asked with this service's own token):

    captured  -> commit the reservation (or take the stock directly if the hold expired; refund
                 and fail if the stock is gone), mark PAID, create the shipment
    nothing   -> release the reservation, mark FAILED (payment_unsettled if a charge is still
                 at the provider)

A FAILED or CANCELLED order marked payment_unsettled (its charge got no answer, its refund failed,
or it was cancelled while its checkout ran) gets whatever payments captured for it refunded, once
nothing of it is still at the provider; then the mark is cleared. An order whose goods should be
back on the shelf but inventory could not take them (restock_due) gets its restock retried.

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
from services.kit.clients import answered
from services.kit.errors import DomainError
from services.kit.lease import Lease, exclusive
from shop.cart.v1 import cart_pb2
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

from . import metrics
from .checkout import Checkout
from .domain import Status
from .downstream import Downstream
from .settlement import refund_key
from .store import OrdersStore, OrderView

log = logging.getLogger(__name__)

SYSTEM = "system:recovery"
BATCH = 100
_CAPTURED = (payments_pb2.PAYMENT_STATUS_CAPTURED, payments_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED)
# Still being decided at the provider (PENDING is UNSPECIFIED; capturing and voiding read AUTHORIZED).
_OPEN = (payments_pb2.PAYMENT_STATUS_UNSPECIFIED, payments_pb2.PAYMENT_STATUS_AUTHORIZED)


@dataclass
class Outcome:
    paid: int = 0
    failed: int = 0
    shipped: int = 0
    refunded: int = 0
    restocked: int = 0
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
        await self._settle_stuck(outcome)
        await self._give_back_unsettled(outcome)
        await self._restock_due(outcome)
        await self._ship_awaiting(outcome)
        if any(outcome.__dict__.values()):
            log.info("recovery pass", extra=outcome.__dict__)
        return outcome

    async def _settle_stuck(self, outcome: Outcome) -> None:
        for view in await self._store.stuck(timestamps.now() - self._after, BATCH):
            try:
                await self._settle(view, outcome)
            except (grpc.aio.AioRpcError, DomainError) as exc:
                # A service it needs is down: the next pass tries again.
                outcome.skipped += 1
                log.warning(
                    "stuck order not settled yet", extra={"order_id": view.order.id, "error": str(exc)}
                )

    async def _give_back_unsettled(self, outcome: Outcome) -> None:
        for view in await self._store.unsettled(timestamps.now() - self._after, BATCH):
            try:
                outcome.refunded += await self._give_back(view)
            except (grpc.aio.AioRpcError, DomainError) as exc:
                outcome.skipped += 1
                log.warning(
                    "payment of a closed order not settled yet",
                    extra={"order_id": view.order.id, "error": str(exc)},
                )

    async def _restock_due(self, outcome: Outcome) -> None:
        for view in await self._store.restock_due(BATCH):
            try:
                await self._restock(view)
            except (grpc.aio.AioRpcError, DomainError) as exc:
                outcome.skipped += 1
                log.warning("stock not given back yet", extra={"order_id": view.order.id, "error": str(exc)})
            else:
                outcome.restocked += 1

    async def _ship_awaiting(self, outcome: Outcome) -> None:
        for view in await self._store.awaiting_shipment(BATCH):
            await self._checkout.ship(view)
            after = await self._store.get(view.order.id)
            if after is not None and after.order.shipment_id:
                outcome.shipped += 1

    async def run(self, interval_seconds: float, lease: Lease | None = None) -> None:
        """A pass every interval, by whichever replica holds the lease (the others wait their turn)."""
        while True:
            try:
                ran, outcome = await exclusive(lease, self.run_once)
                if ran and outcome is not None:
                    metrics.recovery_pass(outcome.__dict__)
            except Exception as exc:  # the database or a service hiccup must not end the loop
                metrics.recovery_pass(None)
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
                order.id,
                [Status.PENDING],
                Status.FAILED,
                "checkout interrupted before payment",
                SYSTEM,
                payment_unsettled=any(p.status in _OPEN for p in payments) or None,
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
            await self._checkout.settlement.refund(
                order.id, captured.id, Status.PENDING, "checkout interrupted; stock gone"
            )
            await self._store.transition(
                order.id,
                [Status.PENDING],
                Status.FAILED,
                "checkout interrupted; stock gone",
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

    async def _give_back(self, view: OrderView) -> int:
        """Refunds what payments captured for a closed order; returns how many payments. While a
        charge of it is still at the provider, the mark stays and the next pass looks again."""
        order = view.order
        reference = f"order:{order.id}"
        payments = await self._down.payments_of(reference)
        if any(p.status in _OPEN for p in payments):
            log.warning("closed order has a payment still at the provider", extra={"order_id": order.id})
            return 0
        refunded = 0
        for payment in payments:
            if payment.status in _CAPTURED:
                # The order's one refund key: a refund checkout already made is answered, not repeated.
                await self._down.refund(payment.id, refund_key(order.id), f"order {order.status}")
                await self._store.note(
                    order.id,
                    view.status,
                    f"payment {payment.id} refunded: the order did not complete",
                    SYSTEM,
                )
                refunded += 1
        await self._store.update(order.id, payment_unsettled=False)
        return refunded

    async def _restock(self, view: OrderView) -> None:
        """Retries the restock the order is due (its reference makes a repeat change nothing)."""
        order = view.order
        await self._down.adjust_stock(view.quantities, order.restock_due, f"order {order.id} {order.status}")
        await self._store.update(order.id, restock_due="")
        await self._store.note(order.id, view.status, "stock returned", SYSTEM)

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
        lines = view.quantities
        try:
            reservation = await self._down.reserve(f"order:{order.id}", lines, 60)
        except grpc.aio.AioRpcError as exc:
            if answered(exc):
                return None  # nothing could be held, so nothing is held
            raise
        await self._store.update(order.id, reservation_id=reservation.id)
        return reservation
