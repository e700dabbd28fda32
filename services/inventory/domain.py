"""Inventory rules that need no I/O: error codes, reservation states and request validation."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.kit.errors import ErrorCode, Kind, invalid
from services.kit.text import bounded

MAX_LINES = 100
# Far above any real stock count, far below int64 overflow after adding a few deltas.
MAX_QUANTITY = 1_000_000_000
MAX_REFERENCE = 200
MAX_REASON = 500
# The movements' actor column.
MAX_ACTOR = 100
MAX_BATCH = 500
MAX_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_LOW_STOCK_THRESHOLD = 5

# Where inventory reads the time (timestamps.now; tests pass one they move).
Clock = Callable[[], datetime]


class InventoryError(ErrorCode):
    INSUFFICIENT_STOCK = Kind.FAILED_PRECONDITION, "insufficient stock"
    BELOW_RESERVED = Kind.FAILED_PRECONDITION, "on_hand must not drop below the reserved quantity"
    RESERVATION_NOT_FOUND = Kind.NOT_FOUND, "reservation not found"
    RESERVATION_CLOSED = Kind.FAILED_PRECONDITION, "reservation is no longer held"
    RESERVATION_EXPIRED = Kind.FAILED_PRECONDITION, "reservation has expired"
    CONCURRENT_CHANGE = Kind.ABORTED, "changed concurrently, retry"


class State(enum.StrEnum):
    """A reservation's state, as stored."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int


def product_id(value: int, field: str = "product_id") -> int:
    if value <= 0:
        raise invalid(f"{field} must be positive")
    return value


def lines(raw: Iterable[tuple[int, int]], *, signed: bool) -> list[Line]:
    """Validated lines: 1..MAX_LINES of them, positive product ids, each product once, quantities
    positive (or, when `signed`, non-zero deltas), none beyond MAX_QUANTITY."""
    result: list[Line] = []
    seen: set[int] = set()
    for pid, quantity in raw:
        product_id(pid, "lines.product_id")
        if pid in seen:
            raise invalid(f"product {pid} appears in more than one line")
        seen.add(pid)
        if signed and quantity == 0:
            raise invalid(f"quantity of product {pid} must not be zero")
        if not signed and quantity <= 0:
            raise invalid(f"quantity of product {pid} must be positive")
        if abs(quantity) > MAX_QUANTITY:
            raise invalid(f"quantity of product {pid} must be at most {MAX_QUANTITY}")
        result.append(Line(pid, quantity))
    if not result:
        raise invalid("at least one line is required")
    if len(result) > MAX_LINES:
        raise invalid(f"at most {MAX_LINES} lines per call")
    return result


def text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    value = bounded(value, field, limit)
    if required and not value:
        raise invalid(f"{field} is required")
    return value


def on_hand(value: int) -> int:
    if value < 0:
        raise invalid("on_hand must not be negative")
    if value > MAX_QUANTITY:
        raise invalid(f"on_hand must be at most {MAX_QUANTITY}")
    return value


def threshold(value: int) -> int:
    if value < 0:
        raise invalid("low_stock_threshold must not be negative")
    if value > MAX_QUANTITY:
        raise invalid(f"low_stock_threshold must be at most {MAX_QUANTITY}")
    return value


def ttl_seconds(requested: int, default: int) -> int:
    if requested < 0:
        raise invalid("ttl_seconds must not be negative")
    if requested > MAX_TTL_SECONDS:
        raise invalid(f"ttl_seconds must be at most {MAX_TTL_SECONDS}")
    return requested or default


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_expired(expire_at: datetime, now: datetime) -> bool:
    return as_utc(expire_at) <= now
