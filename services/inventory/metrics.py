"""The inventory service's metrics, declared once: low stock, reservations held and expired. Holds
are read from the database in the background (`refresher`). Products on sale with no stock are
counted by the catalog (`shop_catalog_active_products_out_of_stock`), which knows what is on sale."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from services.kit import timestamps
from services.kit.database import Database

from .domain import Clock, State
from .store import ReservationRow

# A count, not a per-product gauge: its cardinality stays one series whatever the catalog's size.
LOW_STOCK_PRODUCTS = Gauge(
    "shop_inventory_low_stock_products",
    "Products whose available stock is at or below their low-stock threshold",
)
RESERVATIONS_EXPIRED = Counter(
    "shop_inventory_reservations_expired_total", "Held reservations expired by the sweeper"
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
    async def refresh() -> None:
        held, oldest = (
            await db.fetch(
                sa.select(sa.func.count(), sa.func.min(ReservationRow.expire_at)).where(
                    ReservationRow.state == State.HELD.value
                )
            )
        )[0]
        RESERVATIONS_HELD.set(held)
        OLDEST_HOLD.set(_overdue_seconds(oldest, clock()))

    return refresh
