"""The low-stock gauge: how many products are at or below their low-stock threshold, kept
current as stock changes (and by the sweeper's passes)."""

from __future__ import annotations

import asyncio
import logging

from services.kit.tasks import cancel_and_wait

from .metrics import LOW_STOCK_PRODUCTS
from .store import InventoryStore

log = logging.getLogger(__name__)


# At most one count per this many seconds under steady changes: a count reads every stock level
# (100,000 rows at that catalog size), and a checkout changes stock two or three times, so
# counting again as soon as the last count ended was a count query running without pause.
MIN_INTERVAL_SECONDS = 1.0


class LowStockGauge:
    """Keeps LOW_STOCK_PRODUCTS current. `touch()` after a stock change schedules one count query;
    changes that arrive while it runs, or within `min_interval` after it, coalesce into one more:
    the gauge is at most that late (Prometheus scrapes it every 15 s)."""

    def __init__(self, store: InventoryStore, min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        self._store = store
        self._min_interval = min_interval
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def touch(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._refresh(), name="low-stock-gauge")

    async def refresh_now(self) -> int:
        count = await self._store.count_low()
        LOW_STOCK_PRODUCTS.set(count)
        return count

    async def _refresh(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh_now()
            except Exception as exc:
                log.warning("low-stock gauge not refreshed", extra={"error": repr(exc)})
            await asyncio.sleep(self._min_interval)
            if not self._again:
                return

    async def close(self) -> None:
        await cancel_and_wait(self._task)
