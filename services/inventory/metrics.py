"""The inventory service's metrics, declared once: stock levels, low stock, reservations held
and expired. Stock and holds are read from the database in the background (`refresher`)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from services.kit import timestamps
from services.kit.database import Database

from .domain import Clock, State
from .store import ReservationRow, StockLevelRow

PRODUCT_ID: Final = "product_id"

# A count, not a per-product gauge: its cardinality stays one series whatever the catalog's size.
LOW_STOCK_PRODUCTS = Gauge(
    "shop_inventory_low_stock_products",
    "Products whose available stock is at or below their low-stock threshold",
)
RESERVATIONS_EXPIRED = Counter(
    "shop_inventory_reservations_expired_total", "Held reservations expired by the sweeper"
)
# One series per product with a stock level: what "an active product is out of stock" is read from.
STOCK_AVAILABLE = Gauge(
    "shop_inventory_stock_available", "Units on hand and not reserved, per product", [PRODUCT_ID]
)
RESERVATIONS_HELD = Gauge("shop_inventory_reservations_held", "Reservations holding stock now")
OLDEST_HOLD = Gauge(
    "shop_inventory_reservation_oldest_expiry_overdue_seconds",
    "How far past its expiry the most overdue held reservation is (0: none overdue)",
)


def _overdue_seconds(expire_at: datetime | None, now: datetime) -> float:
    if expire_at is None:
        return 0.0
    aware = expire_at if expire_at.tzinfo else expire_at.replace(tzinfo=UTC)  # SQLite gives naive UTC
    return max(0.0, (now - aware).total_seconds())


def refresher(db: Database, clock: Clock = timestamps.now) -> Callable[[], Awaitable[None]]:
    # The figures set last time: a refresh touches only the series that changed (clearing and
    # setting one per product every 15 s held the event loop for seconds at 100,000 products).
    shown: dict[int, int] = {}

    async def refresh() -> None:
        available = StockLevelRow.on_hand - StockLevelRow.reserved
        async with db.read() as session:
            levels = (await session.execute(sa.select(StockLevelRow.product_id, available))).all()
            held, oldest = (
                await session.execute(
                    sa.select(sa.func.count(), sa.func.min(ReservationRow.expire_at)).where(
                        ReservationRow.state == State.HELD.value
                    )
                )
            ).one()
        now = {product_id: units for product_id, units in levels}
        for product_id in shown.keys() - now.keys():
            with contextlib.suppress(KeyError):  # cleared meanwhile
                STOCK_AVAILABLE.remove(str(product_id))
        for product_id, units in now.items():
            if shown.get(product_id) != units:
                STOCK_AVAILABLE.labels(str(product_id)).set(units)
        shown.clear()
        shown.update(now)
        RESERVATIONS_HELD.set(held)
        OLDEST_HOLD.set(_overdue_seconds(oldest, clock()))

    return refresh
