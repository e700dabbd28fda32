"""Keeps the catalog's denormalised signals (in stock, rating, popularity) in step with the services
that own them, so listings can filter and sort on them in SQL.

A pull: a pass walks the live products in id order, asks inventory (BatchGetStock), reviews
(BatchGetRatingSummaries) and activity (ListPopularProducts, last 7 days) in batches, and writes
only the rows whose values changed. A pass is spread over `interval` seconds (a batch, then a
pause) and the next starts when it ends: at 100,000 products a pass costs seconds of CPU across
three services, which as one burst every interval stalled every read that met it. A change in
stock or rating is therefore visible to the catalog's filters and sorts within two intervals, as
long as a pass's own work takes less than one (a few seconds at 100,000 products, against 30); the
product answers themselves carry live stock from inventory. A signal whose service is down is
left as it was for that pass. Owners may also push at once through SetProductSignals.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import sqlalchemy as sa

from services.kit.clients import Metadata
from services.kit.database import Database
from services.kit.lease import Lease, exclusive
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc

from .tables import ProductRow

log = logging.getLogger(__name__)

BATCH = 500
# Products with activity that get a popularity figure (the rest count 0).
POPULAR_PAGES = 10


_LIVE = ProductRow.deleted_at.is_(None)
_LIVE_COUNT = sa.select(sa.func.count()).select_from(ProductRow).where(_LIVE)
# The next live products (by id) after `after`, with their stored signals.
_BATCH_AFTER = (
    sa.select(
        ProductRow.id,
        ProductRow.in_stock,
        ProductRow.rating_average,
        ProductRow.rating_count,
        ProductRow.popularity,
    )
    .where(_LIVE, ProductRow.id > sa.bindparam("after"))
    .order_by(ProductRow.id)
    .limit(sa.bindparam("batch"))
)


@dataclass(frozen=True)
class Sources:
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    reviews: reviews_pb2_grpc.ReviewsServiceAsyncStub
    activity: activity_pb2_grpc.ActivityServiceAsyncStub
    # This service's own token: stock reads need the service role.
    metadata: Callable[[], Awaitable[Metadata]]


class SignalsSync:
    def __init__(
        self,
        db: Database,
        sources: Sources,
        interval: float,
        lease: Lease | None = None,
        batch: int = BATCH,
        changed: Callable[[Sequence[int]], None] | None = None,
    ) -> None:
        # Told the products each batch changed, after its commit (the listing index).
        self._changed = changed
        self._batch = batch
        self._db = db
        self._sources = sources
        self._interval = interval
        # One replica a pass: the pass is idempotent, but N replicas would ask the sources N times.
        self._lease = lease

    async def run(self) -> None:
        took = 0.0  # the first pass starts one interval after start-up
        while True:
            await asyncio.sleep(max(0.0, self._interval - took))
            started = time.monotonic()
            try:
                await exclusive(self._lease, self._paced_pass)
            except Exception:  # one failed pass must not end the loop
                log.warning("signals pass failed", exc_info=True)
            took = time.monotonic() - started

    async def _paced_pass(self) -> int:
        (count,) = (await self._db.fetch(_LIVE_COUNT))[0]
        return await self.sync_once(pause=self._interval / max(1, math.ceil(count / self._batch)))

    async def sync_once(self, pause: float = 0.0) -> int:
        """One pass over every live product, `pause` seconds after each batch; the number of rows
        changed."""
        popularity = await self._popularity()
        changed = 0
        after = 0
        while rows := await self._db.fetch(_BATCH_AFTER, {"after": after, "batch": self._batch}):
            ids: list[int] = [r[0] for r in rows]
            after = ids[-1]
            updates = _changes(rows, await self._stock(ids), await self._ratings(ids), popularity)
            await self._write(updates)
            changed += len(updates)
            if pause:
                await asyncio.sleep(pause)
        return changed

    async def _write(self, updates: list[tuple[int, dict[str, object]]]) -> None:
        if not updates:
            return
        async with self._db.write() as session:
            for product_id, values in updates:
                await session.execute(
                    sa.update(ProductRow).where(ProductRow.id == product_id).values(**values)
                )
        if self._changed is not None:
            self._changed([product_id for product_id, _ in updates])

    async def _stock(self, ids: list[int]) -> dict[int, bool] | None:
        try:
            reply = await self._sources.inventory.BatchGetStock(
                inventory_pb2.BatchGetStockRequest(product_ids=ids), metadata=await self._sources.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("stock unavailable for signals: %s", exc.code())
            return None
        return {level.product_id: level.available > 0 for level in reply.levels}

    async def _ratings(self, ids: list[int]) -> dict[int, tuple[float, int]] | None:
        try:
            reply = await self._sources.reviews.BatchGetRatingSummaries(
                reviews_pb2.BatchGetRatingSummariesRequest(product_ids=ids),
                metadata=await self._sources.metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("ratings unavailable for signals: %s", exc.code())
            return None
        return {s.product_id: (s.average, s.count) for s in reply.summaries}

    async def _popularity(self) -> dict[int, int] | None:
        counts: dict[int, int] = {}
        token = ""
        try:
            for _ in range(POPULAR_PAGES):
                reply = await self._sources.activity.ListPopularProducts(
                    activity_pb2.ListPopularProductsRequest(page_size=BATCH, page_token=token),
                    metadata=await self._sources.metadata(),
                )
                counts.update({p.product_id: p.count for p in reply.products})
                token = reply.next_page_token
                if not token:
                    break
        except grpc.aio.AioRpcError as exc:
            log.warning("popularity unavailable for signals: %s", exc.code())
            return None
        return counts


def _changes(
    rows: Sequence[Any],
    stock: dict[int, bool] | None,
    ratings: dict[int, tuple[float, int]] | None,
    popularity: dict[int, int] | None,
) -> list[tuple[int, dict[str, object]]]:
    """(product id, new values) for each row whose signals differ; a source that was down (None)
    leaves its signal as it was."""
    updates = []
    for row in rows:
        values: dict[str, object] = {}
        if stock is not None and stock.get(row.id, False) != row.in_stock:
            values["in_stock"] = stock.get(row.id, False)
        if ratings is not None:
            average, count = ratings.get(row.id, (0.0, 0))
            if (average, count) != (row.rating_average, row.rating_count):
                values.update(rating_average=average, rating_count=count)
        if popularity is not None and popularity.get(row.id, 0) != row.popularity:
            values["popularity"] = popularity.get(row.id, 0)
        if values:
            updates.append((row.id, values))
    return updates
