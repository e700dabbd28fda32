"""The payments service's metrics, declared once: provider operations by outcome, refunds, and
the resolver's passes. Service code calls the one-line hooks below."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import Counter

from services.kit.errors import DomainError

from .domain import Operation, PaymentsError

OPERATION: Final = "operation"
OUTCOME: Final = "outcome"
CURRENCY: Final = "currency"
RESULT: Final = "result"

SUCCEEDED: Final = "succeeded"
DECLINED: Final = "declined"
# The provider could not be reached or failed (the payment is released or left to the resolver).
FAILED: Final = "failed"

OPERATIONS = Counter(
    "shop_payments_operations_total",
    "Provider operations (charge, authorize, capture, void, refund), by outcome",
    [OPERATION, OUTCOME],
)
REFUNDED = Counter("shop_payments_refunded_minor_total", "Money refunded, in minor units", [CURRENCY])
RESOLVER_PASSES = Counter(
    "shop_payments_resolver_passes_total",
    "Resolver passes over provider calls whose answer was lost, by result (ok, failed)",
    [RESULT],
)
RESOLVER_SETTLED = Counter(
    "shop_payments_resolver_settled_total", "Unfinished provider calls the resolver settled or freed"
)


@contextmanager
def operation(name: str) -> Iterator[None]:
    """Counts one provider operation by how it ended."""
    outcome = FAILED
    try:
        yield
        outcome = SUCCEEDED
    except DomainError as exc:
        outcome = DECLINED if exc.code is PaymentsError.DECLINED else FAILED
        raise
    finally:
        OPERATIONS.labels(name, outcome).inc()


def refunded(amount_minor: int, currency: str) -> None:
    REFUNDED.labels(currency).inc(amount_minor)


def resolver_pass(settled: int | None) -> None:
    """One pass's count of settled calls, or None when the pass failed."""
    RESOLVER_PASSES.labels("failed" if settled is None else "ok").inc()
    RESOLVER_SETTLED.inc(settled or 0)


# Every series from zero at start-up, so rate() and the alerts see them before the first event.
for _operation in Operation:
    for _outcome in (SUCCEEDED, DECLINED, FAILED):
        OPERATIONS.labels(_operation.value, _outcome)
for _result in ("ok", "failed"):
    RESOLVER_PASSES.labels(_result)
