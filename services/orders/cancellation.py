"""Cancelling and refunding an order: the status changes first (a conditional UPDATE, so of two
racing cancels exactly one goes on), then the money and the stock go back.

The refund key (order:<id>:refund) and the restock reference make each of those happen at most
once whatever happens around them. If the refund cannot be made, the status change is undone so
the cancel can simply be tried again. A PENDING order is only flipped to CANCELLED: its checkout
is still running and gives back what it took when it finds the order cancelled (and should that
checkout die first, the recovery pass refunds what payments holds for the order).
"""

from __future__ import annotations

import logging

import grpc

from services.kit.clients import answered
from services.kit.errors import DomainError

from . import domain
from .domain import OrderError, Status
from .downstream import Downstream, to_completion
from .settlement import Settlement, refund_key
from .store import OrdersStore, OrderView

log = logging.getLogger(__name__)

SYSTEM = "system:orders"
MAX_ATTEMPTS = 3


class Cancellation:
    def __init__(self, store: OrdersStore, downstream: Downstream) -> None:
        self._store = store
        self._down = downstream
        self._settlement = Settlement(store, downstream)

    async def _view(self, order_id: int) -> OrderView:
        view = await self._store.get(order_id)
        if view is None:
            raise DomainError(OrderError.ORDER_NOT_FOUND, f"order {order_id} not found")
        return view

    async def cancel(self, order_id: int, actor: str, reason: str) -> OrderView:
        for _ in range(MAX_ATTEMPTS):
            view = await self._view(order_id)
            domain.check_cancellable(view.status)
            previous = await self._store.transition(
                order_id,
                [view.status],
                Status.CANCELLED,
                reason or "cancelled",
                actor,
                # Its checkout is still running and gives back what it took, unless it dies first:
                # then the recovery pass refunds what payments holds.
                payment_unsettled=True if view.status is Status.PENDING else None,
            )
            if previous is not None:
                break
        else:
            raise DomainError(OrderError.CONCURRENT_CHANGE)
        if previous is Status.PENDING:
            return await self._view(order_id)
        return await to_completion(
            self._give_back(view, previous, Status.CANCELLED, f"order:{order_id}:cancel-restock", reason)
        )

    async def refund(self, order_id: int, actor: str, note: str) -> OrderView:
        view = await self._view(order_id)
        domain.check_transition(view.status, Status.REFUNDED)
        previous = await self._store.transition(
            order_id, [view.status], Status.REFUNDED, note or "refunded", actor
        )
        if previous is None:
            raise DomainError(OrderError.CONCURRENT_CHANGE)
        # Goods that never left the warehouse go back on the shelf; returned ones are checked first.
        restock = f"order:{order_id}:refund-restock" if previous is Status.PAID else None
        return await to_completion(self._give_back(view, previous, Status.REFUNDED, restock, note))

    async def _give_back(
        self, view: OrderView, previous: Status, now: Status, restock_reference: str | None, reason: str
    ) -> OrderView:
        order = view.order
        if order.payment_id:
            try:
                await self._down.refund(order.payment_id, refund_key(order.id), reason or str(now))
            except (grpc.aio.AioRpcError, DomainError) as exc:
                if (
                    isinstance(exc, grpc.aio.AioRpcError)
                    and answered(exc)
                    and exc.code()
                    in (
                        grpc.StatusCode.FAILED_PRECONDITION,
                        grpc.StatusCode.NOT_FOUND,
                    )
                ):
                    # Nothing left to refund (refunded by other means): the order can still close.
                    await self._store.note(order.id, now, f"refund skipped: {exc.details()}", SYSTEM)
                else:
                    log.warning(
                        "refund failed, status change undone", extra={"order_id": order.id, "error": str(exc)}
                    )
                    await self._store.transition(
                        order.id, [now], previous, f"{now} undone: payment could not be refunded", SYSTEM
                    )
                    raise DomainError(
                        OrderError.PAYMENT_UNAVAILABLE,
                        f"payment service unavailable; the order stays {previous}",
                    ) from exc
            else:
                await self._store.note(order.id, now, f"payment {order.payment_id} refunded", SYSTEM)
        if restock_reference is not None:
            await self._settlement.restock(
                order.id, view.quantities, restock_reference, now, f"order {order.id} {now}"
            )
        return await self._view(order.id)
