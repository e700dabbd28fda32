"""Time helpers shared by services: aware UTC datetimes in, protobuf Timestamps out."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def now() -> datetime:
    return datetime.now(UTC)


def to_proto(value: datetime | None) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        # SQLite hands back naive datetimes; everything stored is UTC.
        stamp.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp
