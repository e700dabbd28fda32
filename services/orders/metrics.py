"""The orders service's metrics, declared once: checkout outcomes, orders by status, revenue,
and what the recovery pass settles. Service code calls the one-line hooks below."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, ParamSpec

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import OrderError, Status
from .store import OrderData, OrderRow, OrderView

P = ParamSpec("P")

OUTCOME: Final = "outcome"
STATUS: Final = "status"
CURRENCY: Final = "currency"
RESULT: Final = "result"
SETTLED: Final = "settled"

# Checkout outcomes. `rejected`: the shopper's request could not be taken (empty cart, a product
# gone, a bad payment method, a key in use); `error`: the platform failed.
PAID: Final = "paid"
OUT_OF_STOCK: Final = "out_of_stock"
DECLINED: Final = "declined"
PAYMENT_UNAVAILABLE: Final = "payment_unavailable"
REJECTED: Final = "rejected"
ERROR: Final = "error"
OUTCOMES: Final = (PAID, OUT_OF_STOCK, DECLINED, PAYMENT_UNAVAILABLE, REJECTED, ERROR)

CHECKOUTS = Counter("shop_checkout_outcomes_total", "Checkouts (CreateOrder calls) by outcome", [OUTCOME])
ORDERS = Gauge("shop_orders_by_status", "Orders in the database, by status", [STATUS])
REVENUE = Counter(
    "shop_orders_revenue_minor_total", "Totals of orders that were paid, in minor units", [CURRENCY]
)
RECOVERY_PASSES = Counter(
    "shop_orders_recovery_passes_total", "Recovery passes over stuck orders, by result (ok, failed)", [RESULT]
)
RECOVERY_SETTLED = Counter(
    "shop_orders_recovery_settled_total",
    "What recovery passes settled (paid, failed, shipped, refunded, restocked) or had to leave (skipped)",
    [SETTLED],
)

_BY_CODE: dict[object, str] = {
    OrderError.INSUFFICIENT_STOCK: OUT_OF_STOCK,
    OrderError.STOCK_LOST: OUT_OF_STOCK,
    OrderError.PAYMENT_DECLINED: DECLINED,
    OrderError.PAYMENT_PROVIDER_UNAVAILABLE: PAYMENT_UNAVAILABLE,
    OrderError.PAYMENT_UNAVAILABLE: PAYMENT_UNAVAILABLE,
    OrderError.PAYMENT_OUTCOME_UNKNOWN: PAYMENT_UNAVAILABLE,
}
_UNPAID = (Status.PENDING, Status.FAILED, Status.CANCELLED)


def _outcome_of(exc: DomainError) -> str:
    found = _BY_CODE.get(exc.code)
    if found is not None:
        return found
    return ERROR if exc.status.name in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED") else REJECTED


def counts_checkout(
    create: Callable[P, Coroutine[Any, Any, OrderView]],
) -> Callable[P, Coroutine[Any, Any, OrderView]]:
    """Counts each checkout by how it ended (decorates `Checkout.create`)."""

    @functools.wraps(create)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> OrderView:
        try:
            view = await create(*args, **kwargs)
        except DomainError as exc:
            CHECKOUTS.labels(_outcome_of(exc)).inc()
            raise
        except Exception:
            CHECKOUTS.labels(ERROR).inc()
            raise
        CHECKOUTS.labels(ERROR if view.status in _UNPAID else PAID).inc()
        return view

    return counted


def paid(order: OrderData) -> None:
    REVENUE.labels(order.currency).inc(order.total_minor)


def recovery_pass(settled: dict[str, int] | None) -> None:
    """One pass's counts (`Outcome.__dict__`), or None when the pass failed."""
    RECOVERY_PASSES.labels("failed" if settled is None else "ok").inc()
    for what, count in (settled or {}).items():
        if count:
            RECOVERY_SETTLED.labels(what).inc(count)


def refresher(db: Database) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        async with db.read() as session:
            rows = (
                await session.execute(sa.select(OrderRow.status, sa.func.count()).group_by(OrderRow.status))
            ).all()
        counts = {str(status): int(n) for status, n in rows}
        for status in Status:
            ORDERS.labels(status.value).set(counts.get(status.value, 0))

    return refresh


# Every series from zero at start-up, so rate() and the alerts see them before the first event.
for _outcome in OUTCOMES:
    CHECKOUTS.labels(_outcome)
for _result in ("ok", "failed"):
    RECOVERY_PASSES.labels(_result)
for _settled in ("paid", "failed", "shipped", "refunded", "restocked", "skipped"):
    RECOVERY_SETTLED.labels(_settled)
