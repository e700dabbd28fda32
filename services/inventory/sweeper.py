"""The reservation sweeper: expires held reservations past their expiry, so no hold outlives its
order's checkout even if orders never comes back; then refreshes the low-stock gauge."""

from __future__ import annotations

import asyncio
import logging

from .domain import Clock
from .low_stock import LowStockGauge
from .metrics import RESERVATIONS_EXPIRED
from .store import InventoryStore

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self, store: InventoryStore, gauge: LowStockGauge, clock: Clock, *, batch: int, interval: float
    ) -> None:
        self._store = store
        self._gauge = gauge
        self._clock = clock
        # Reservations expired per query at most (the pass asks again for the rest).
        self._batch = batch
        self._interval = interval

    async def sweep_once(self) -> int:
        """One pass, as of the clock's time now; the number of reservations expired."""
        expired = 0
        while True:
            batch = await self._store.expire_due(self._clock(), self._batch)
            for reservation in batch:
                log.info(
                    "reservation expired",
                    extra={"reservation_id": reservation.id, "order_reference": reservation.order_reference},
                )
            expired += len(batch)
            if len(batch) < self._batch:
                break
        RESERVATIONS_EXPIRED.inc(expired)
        await self._gauge.refresh_now()
        return expired

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:  # a database hiccup must not end the sweeper
                log.warning("reservation sweep failed", extra={"error": repr(exc)})
            await asyncio.sleep(self._interval)
