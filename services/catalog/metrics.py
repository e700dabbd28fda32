"""The catalog's metrics, declared once: which products are on sale (status active, not deleted),
read from the database in the background (`refresher`), so an alert can tell an active product's
empty stock from a draft's, an archived or a deleted product's."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import sqlalchemy as sa
from prometheus_client import Gauge

from services.kit.database import Database

from .domain import Status
from .tables import ProductRow

PRODUCT_ID: Final = "product_id"

# One series per product on sale (value 1); drafts, archived and deleted products have none.
PRODUCT_ACTIVE = Gauge("shop_catalog_product_active", "1 for each product on sale", [PRODUCT_ID])
PRODUCTS_ACTIVE = Gauge("shop_catalog_products_active", "Products on sale")


def refresher(db: Database) -> Callable[[], Awaitable[None]]:
    # The ids of the series set last time: a refresh adds and removes only the difference (clearing
    # and setting 100,000 series every 15 s held the event loop for seconds).
    on_sale: set[int] = set()

    async def refresh() -> None:
        async with db.read() as session:
            ids = (
                await session.scalars(
                    sa.select(ProductRow.id).where(
                        ProductRow.deleted_at.is_(None), ProductRow.status == Status.ACTIVE.value
                    )
                )
            ).all()
        now = set(ids)
        for product_id in on_sale - now:
            with contextlib.suppress(KeyError):  # cleared meanwhile
                PRODUCT_ACTIVE.remove(str(product_id))
        for product_id in now - on_sale:
            PRODUCT_ACTIVE.labels(str(product_id)).set(1)
        on_sale.clear()
        on_sale.update(now)
        PRODUCTS_ACTIVE.set(len(ids))

    return refresh
