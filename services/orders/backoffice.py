"""What shop staff do to a paid order by hand: refund it (whole or in part) and mark it fulfilled
or shipped. The money moves in payments (idempotent per key); whole refunds reuse the cancel
flow's refund (one key per order, restock of goods that never left)."""

from __future__ import annotations

from decimal import Decimal

from services.kit import money
from services.kit.errors import DomainError, invalid

from . import domain
from .cancellation import Cancellation
from .checkout import Checkout
from .domain import OrderError, Status
from .downstream import Downstream, to_completion
from .store import OrdersStore, OrderView

SYSTEM = "system:orders"


def part_refund_key(order_id: int, key: str) -> str:
    """A partial refund's payments key: the caller's key, scoped to the order."""
    return f"order:{order_id}:refund:{key}"


class BackOffice:
    def __init__(
        self, store: OrdersStore, downstream: Downstream, checkout: Checkout, cancellation: Cancellation
    ) -> None:
        self._store = store
        self._down = downstream
        self._checkout = checkout
        self._cancellation = cancellation

    async def _view(self, order_id: int) -> OrderView:
        view = await self._store.get(order_id)
        if view is None:
            raise DomainError(OrderError.ORDER_NOT_FOUND, f"order {order_id} not found")
        return view

    async def refund(
        self, order_id: int, key: str, amount_minor: int | None, reason: str, actor: str
    ) -> tuple[OrderView, int]:
        """Returns the order and all refunded on its payment so far (minor units)."""
        view = await self._view(order_id)
        order = view.order
        if view.status not in domain.REFUNDABLE:
            raise DomainError(
                OrderError.NOT_REFUNDABLE, f"an order in status {view.status} has nothing to refund"
            )
        if not order.payment_id:
            raise DomainError(OrderError.NOTHING_TO_REFUND)
        payment = await self._down.payment(order.payment_id)
        left = payment.amount.amount_minor - payment.refunded.amount_minor
        whole = amount_minor is None or amount_minor == left
        if whole and view.status is Status.REFUNDED:
            return view, payment.refunded.amount_minor  # a retry of the whole refund
        if amount_minor is not None and amount_minor > left:
            raise DomainError(
                OrderError.REFUND_TOO_LARGE,
                f"only {Decimal(left).scaleb(-2)} {order.currency} is left to refund",
            )
        if whole and domain.can_transition(view.status, Status.REFUNDED):
            view = await self._cancellation.refund(order_id, actor, reason)
            return view, (await self._down.payment(order.payment_id)).refunded.amount_minor
        # A part (or the rest of a fulfilled or shipped order, which stays on its way).
        if not key:
            raise invalid("idempotency_key is required for a partial refund")
        amount = money.of(left if amount_minor is None else amount_minor, order.currency)
        after = await to_completion(
            self._down.refund(
                order.payment_id, part_refund_key(order_id, key), reason or "partial refund", amount
            )
        )
        if after.refunded.amount_minor != payment.refunded.amount_minor:
            given = f"{Decimal(amount.amount_minor).scaleb(-2)} {amount.currency}"
            await self._store.note(
                order_id,
                view.status,
                f"refunded {given} of payment {order.payment_id}" + (f": {reason}" if reason else ""),
                actor,
            )
        return await self._view(order_id), after.refunded.amount_minor

    async def fulfil(self, order_id: int, target: Status, note: str, actor: str) -> OrderView:
        if target not in domain.FULFILMENT_REACHED:
            raise invalid("status must be fulfilled or shipped")
        view = await self._view(order_id)
        if view.status in domain.FULFILMENT_REACHED[target]:
            return view
        domain.check_transition(view.status, target)
        await self._checkout.ship(view)  # the shipment, if the order has an address and none yet
        view = await self._view(order_id)
        if target is Status.SHIPPED and view.order.shipment_id:
            await self._down.mark_in_transit(view.order.shipment_id, note or "handed to the carrier")
            view = await self._view(order_id)  # shipping may have moved the order already
            if view.status in domain.FULFILMENT_REACHED[target]:
                return view
        if await self._store.transition(order_id, [view.status], target, note or str(target), actor) is None:
            view = await self._view(order_id)
            if view.status not in domain.FULFILMENT_REACHED[target]:
                raise DomainError(OrderError.CONCURRENT_CHANGE)
        return await self._view(order_id)
