"""The catalog's metrics, declared once: which products are on sale, read from the database in
the background (`refresher`), so an alert can tell an active product's empty stock from a
deleted product's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import sqlalchemy as sa
from prometheus_client import Gauge

from services.kit.database import Database

from .store import ProductRow

PRODUCT_ID: Final = "product_id"

# One series per product on sale (value 1); deleted products have none.
PRODUCT_ACTIVE = Gauge("shop_catalog_product_active", "1 for each product on sale", [PRODUCT_ID])
PRODUCTS_ACTIVE = Gauge("shop_catalog_products_active", "Products on sale")


def refresher(db: Database) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        async with db.read() as session:
            ids = (
                await session.scalars(sa.select(ProductRow.id).where(ProductRow.deleted_at.is_(None)))
            ).all()
        PRODUCT_ACTIVE.clear()
        for product_id in ids:
            PRODUCT_ACTIVE.labels(str(product_id)).set(1)
        PRODUCTS_ACTIVE.set(len(ids))

    return refresh
