"""The activity service's metrics, declared once: the stream consumer's throughput and lag."""

from __future__ import annotations

from typing import Final

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


def observe_stream(length: int, pending: int) -> None:
    """The stream's length and the group's pending count. Stored entries are deleted from the
    stream, so what it holds beyond the pending entries has not been delivered yet."""
    STREAM_LAG.set(max(0, length - pending))
    STREAM_PENDING.set(pending)


# Counted from zero at start-up, so rate() sees the series before the first event.
for _outcome in ("stored", "malformed"):
    EVENTS_CONSUMED.labels(_outcome)
