"""Giving money and stock back for an order that will not complete. What cannot be done at once
(payments or inventory down) is marked on the order, and the recovery pass does it later: the
refund key and the restock reference make every retry safe."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

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
        return await self._attempt(
            order_id,
            status,
            lambda: self._down.refund(payment_id, refund_key(order_id), reason),
            _Step(
                failure="payment not refunded",
                about={"payment_id": payment_id},
                mark={"payment_unsettled": True},
                pending=f"payment {payment_id} not refunded yet",
                done=f"payment {payment_id} refunded",
            ),
        )

    async def restock(
        self, order_id: int, lines: Sequence[tuple[int, int]], reference: str, status: Status, reason: str
    ) -> bool:
        """Puts the order's goods back on the shelf; False (and the order's restock_due set) when
        inventory could not take them now."""
        return await self._attempt(
            order_id,
            status,
            lambda: self._down.adjust_stock(list(lines), reference, reason),
            _Step(
                failure="stock not given back",
                about={"reference": reference},
                mark={"restock_due": reference},
                pending=f"stock not given back yet ({reference})",
                done="stock returned",
            ),
        )

    async def _attempt(
        self, order_id: int, status: Status, call: Callable[[], Awaitable[object]], step: _Step
    ) -> bool:
        """Runs the downstream call; when it fails the order is marked for the recovery pass."""
        try:
            await call()
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.error(step.failure, extra={"order_id": order_id, **step.about, "error": str(exc)})
            await self._store.update(order_id, **step.mark)
            await self._store.note(order_id, status, f"{step.pending}: the recovery pass retries", SYSTEM)
            return False
        await self._store.note(order_id, status, step.done, SYSTEM)
        return True


@dataclass(frozen=True)
class _Step:
    """What one settlement step logs, marks on the order and notes on its timeline."""

    failure: str  # the log message when the call fails
    about: dict[str, str]  # the log's extra fields besides the order id
    mark: dict[str, str | bool]  # the order's bookkeeping columns set for the recovery pass
    pending: str  # the timeline note when it fails
    done: str  # the timeline note when it is done
