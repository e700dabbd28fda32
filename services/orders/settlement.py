"""Giving money and stock back for an order that will not complete. What cannot be done at once
(payments or inventory down) is marked on the order, and the recovery pass does it later: the
refund key and the restock reference make every retry safe."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from services.kit.errors import DomainError

from .domain import Status
from .downstream import Downstream
from .store import OrdersStore

log = logging.getLogger(__name__)

SYSTEM = "system:orders"


def refund_key(order_id: int) -> str:
    """The one refund key of an order: a full refund of what is left, made at most once."""
    return f"order:{order_id}:refund"


class Settlement:
    def __init__(self, store: OrdersStore, downstream: Downstream) -> None:
        self._store = store
        self._down = downstream

    async def refund(self, order_id: int, payment_id: str, status: Status, reason: str) -> bool:
        """Refunds the payment; False (and the order marked payment_unsettled) when payments
        could not do it now."""
        try:
            await self._down.refund(payment_id, refund_key(order_id), reason)
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.error(
                "payment not refunded",
                extra={"order_id": order_id, "payment_id": payment_id, "error": str(exc)},
            )
            await self._store.update(order_id, payment_unsettled=True)
            await self._store.note(
                order_id, status, f"payment {payment_id} not refunded yet: the recovery pass retries", SYSTEM
            )
            return False
        await self._store.note(order_id, status, f"payment {payment_id} refunded", SYSTEM)
        return True

    async def restock(
        self, order_id: int, lines: Sequence[tuple[int, int]], reference: str, status: Status, reason: str
    ) -> bool:
        """Puts the order's goods back on the shelf; False (and the order's restock_due set) when
        inventory could not take them now."""
        try:
            await self._down.adjust_stock(list(lines), reference, reason)
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.error(
                "stock not given back",
                extra={"order_id": order_id, "reference": reference, "error": str(exc)},
            )
            await self._store.update(order_id, restock_due=reference)
            await self._store.note(
                order_id, status, f"stock not given back yet ({reference}): the recovery pass retries", SYSTEM
            )
            return False
        await self._store.note(order_id, status, "stock returned", SYSTEM)
        return True
