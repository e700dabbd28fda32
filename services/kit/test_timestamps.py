"""Timestamps sent to callers name the same instant as the stored time, across the whole range
a Timestamp holds, naive (stored UTC) or aware."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.timestamps import to_proto


def _reference(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp


def test_to_proto_names_the_same_instant_as_protobufs_own_conversion() -> None:
    rng = random.Random(7)
    samples = [datetime(1, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999_999), datetime(1970, 1, 1)]
    samples += [
        datetime(2, 1, 1) + timedelta(days=rng.uniform(0, 9996 * 365), microseconds=rng.randint(0, 999_999))
        for _ in range(2000)
    ]
    for naive in samples:
        offset = timezone(timedelta(minutes=rng.randint(-14 * 60, 14 * 60)))
        values = [naive, naive.replace(tzinfo=UTC)]
        if 1 < naive.year < 9999:  # an offset could push the first and last years out of range
            values.append(naive.replace(tzinfo=offset))
        for value in values:
            assert to_proto(value) == _reference(value), value
    assert to_proto(None) == Timestamp()
    assert to_proto(datetime(1969, 12, 31, 23, 59, 59, 500_000)) == Timestamp(seconds=-1, nanos=500_000_000)
