"""Time helpers shared by services: aware UTC datetimes in, protobuf Timestamps out."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.errors import invalid

OUT_OF_RANGE = "is outside the years 1 to 9999 (UTC)"


def now() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1)  # naive, as SQLite hands datetimes back: everything stored is UTC


def to_proto(value: datetime | None) -> Timestamp:
    if value is None:
        return Timestamp()
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Arithmetic instead of Timestamp.FromDatetime (a time tuple and calendar.timegm per call):
    # a listing converts two per product. A timedelta keeps seconds and microseconds non-negative
    # before 1970 too, as a Timestamp's nanos must be.
    since = value - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC (a naive time is taken as UTC). ValueError when its offset pushes it
    past the years a datetime (and a protobuf Timestamp) holds: "0001-01-01T00:00:00+01:00"."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(OUT_OF_RANGE) from exc


def from_proto(stamp: Timestamp, field: str) -> datetime:
    """A Timestamp from a caller as an aware UTC datetime; INVALID_ARGUMENT naming `field` when it
    is outside what a Timestamp may hold."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(f"{field} {OUT_OF_RANGE}") from exc
