"""The activity service's metrics, declared once: the stream consumer's throughput and lag."""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import Counter, Gauge

OUTCOME: Final = "outcome"

EVENTS_CONSUMED = Counter(
    "shop_activity_stream_consumed_total",
    "Stream entries the consumer finished with: stored, or malformed (skipped)",
    [OUTCOME],
)
STREAM_LAG = Gauge(
    "shop_activity_stream_lag_entries",
    "Entries in the activity stream not yet delivered to the consumer group",
)
STREAM_PENDING = Gauge(
    "shop_activity_stream_pending_entries",
    "Entries delivered to a consumer and not yet acknowledged (stored)",
)


def consumed(stored: int, malformed: int) -> None:
    if stored:
        EVENTS_CONSUMED.labels("stored").inc(stored)
    if malformed:
        EVENTS_CONSUMED.labels("malformed").inc(malformed)


def observe_group(info: dict[str, Any]) -> None:
    """One group's XINFO GROUPS answer. `lag` is absent when Redis cannot tell (after deletions)."""
    lag = info.get("lag")
    if lag is not None:
        STREAM_LAG.set(int(lag))
    STREAM_PENDING.set(int(info.get("pending", 0)))


# Counted from zero at start-up, so rate() sees the series before the first event.
for _outcome in ("stored", "malformed"):
    EVENTS_CONSUMED.labels(_outcome)
