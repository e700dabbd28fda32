"""The catalog's metrics, declared once: how many products are on sale, and how many of those
have no stock available, read from the database in the background (`refresher`).

Counts, not a series per product: one series per product was 100,000 series per replica at
100,000 products, and refreshing them held the event loop for a quarter of a second every 15 s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from prometheus_client import Gauge

from services.kit.database import Database

from .domain import Status
from .tables import ProductRow

PRODUCTS_ACTIVE = Gauge("shop_catalog_products_active", "Products on sale")
# The listing's in-stock signal, which follows inventory within two SHOP_SIGNALS_INTERVAL_SECONDS.
ACTIVE_OUT_OF_STOCK = Gauge(
    "shop_catalog_active_products_out_of_stock", "Products on sale with no stock available"
)


def refresher(db: Database) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        # One grouped count on the covering listing index (status, deleted_at, in_stock, ...).
        rows = await db.fetch(
            sa.select(ProductRow.in_stock, sa.func.count())
            .where(ProductRow.status == Status.ACTIVE.value, ProductRow.deleted_at.is_(None))
            .group_by(ProductRow.in_stock)
        )
        counts = {bool(in_stock): int(n) for in_stock, n in rows}
        PRODUCTS_ACTIVE.set(sum(counts.values()))
        ACTIVE_OUT_OF_STOCK.set(counts.get(False, 0))

    return refresh
