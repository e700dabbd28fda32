"""The activity event stream, the one module that reads and writes it: its Redis key, consumer
group and entry format. The gateway appends to it; the activity service consumes it.

Key layout follows the kit's namespacing (`<SHOP_REDIS_PREFIX>activity:events`), so every process
of one platform that shares the Redis prefix shares the stream, and test runs never collide.

An entry's format is a contract: the `shop.activity.v1.StreamEntry` message
(protos/shop/activity/v1/stream.proto), serialized and base64-encoded into the entry's one field,
`pb` (base64 because the kit's Redis clients decode replies as text). It carries the event and
the W3C trace context of the request it came from, so the consumer's span joins that trace.

Producers append batches with `append(...)`: one Lua call doing `XADD key MAXLEN ~ bound * pb <entry>`
per event, so a batch is one round trip and one reply.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from services.kit import timestamps
from services.kit.redis import Keys
from shop.activity.v1 import activity_pb2, stream_pb2

SERVICE = "activity"
STREAM = "events"
GROUP = "activity-store"
# Trim bound of the stream (approximate, `MAXLEN ~`): how many events survive an activity outage.
DEFAULT_MAXLEN = 1_000_000
# An entry has one field holding a base64-encoded StreamEntry.
FIELD = "pb"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

EventType: TypeAlias = activity_pb2.EventType.ValueType

TYPE_NAMES: dict[EventType, str] = {
    activity_pb2.EVENT_TYPE_PRODUCT_VIEWED: "product_viewed",
    activity_pb2.EVENT_TYPE_SEARCHED: "searched",
    activity_pb2.EVENT_TYPE_CART_ADDED: "cart_added",
    activity_pb2.EVENT_TYPE_CART_REMOVED: "cart_removed",
    activity_pb2.EVENT_TYPE_ORDER_PLACED: "order_placed",
    activity_pb2.EVENT_TYPE_REVIEWED: "reviewed",
}
TYPES_BY_NAME: dict[str, EventType] = {name: value for value, name in TYPE_NAMES.items()}


def stream_key(redis_prefix: str) -> str:
    """The stream's full key for a platform's `SHOP_REDIS_PREFIX` (default "shop:")."""
    return Keys(redis_prefix, SERVICE)(STREAM)


def to_micros(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# One XADD per event, all in one script call: a batch costs one command to send and parse.
_APPEND = """
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'pb', ARGV[i])
end
return #ARGV - 1
"""


class MalformedEntry(ValueError):
    """A stream entry that does not decode to an event; the consumer skips it."""


def _no_trace() -> trace.SpanContext:
    return trace.INVALID_SPAN_CONTEXT


@dataclass(frozen=True)
class StreamEvent:
    type: EventType
    user_id: int = 0
    product_id: int = 0
    query: str = ""
    quantity: int = 0
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Where the event came from in a trace. A producer keeps the span context it was recorded in
    # (cheap to take on a request path); a consumer gets the remote one from the entry.
    trace_context: trace.SpanContext = field(default_factory=_no_trace)

    def encode(self) -> str:
        """The value of the entry's one field, `FIELD`."""
        event = activity_pb2.Event(
            type=self.type,
            user_id=self.user_id,
            product_id=self.product_id,
            query=self.query,
            quantity=self.quantity,
            occur_time=timestamps.to_proto(self.occurred_at),
            attributes=dict(self.attributes),
        )
        entry = stream_pb2.StreamEntry(event=event)
        if self.trace_context.is_valid:
            carrier: dict[str, str] = {}
            propagate.inject(
                carrier, context=trace.set_span_in_context(trace.NonRecordingSpan(self.trace_context))
            )
            entry.trace_context.update(carrier)
        return base64.b64encode(entry.SerializeToString()).decode("ascii")

    def fields(self) -> dict[Any, Any]:
        """The entry for a plain XADD (typed loosely: redis-py wants its own invariant dict type)."""
        return {FIELD: self.encode()}

    def parent(self) -> otel_context.Context:
        """A context whose current span is the producer's, for a consumer span's parent."""
        return trace.set_span_in_context(trace.NonRecordingSpan(self.trace_context))


def _span_context(carrier: Mapping[str, str]) -> trace.SpanContext:
    if not carrier:
        return trace.INVALID_SPAN_CONTEXT
    return trace.get_current_span(propagate.extract(dict(carrier))).get_span_context()


def decode(fields: Mapping[str, str]) -> StreamEvent:
    """The event of one entry; raises MalformedEntry for anything that is not one."""
    try:
        entry = stream_pb2.StreamEntry.FromString(base64.b64decode(fields[FIELD], validate=True))
        event = entry.event
        if event.type not in TYPE_NAMES:
            raise ValueError(f"unknown event type {event.type}")
        if not event.HasField("occur_time"):
            raise ValueError("occur_time is missing")
        return StreamEvent(
            type=event.type,
            user_id=event.user_id,
            product_id=event.product_id,
            query=event.query,
            quantity=event.quantity,
            occurred_at=event.occur_time.ToDatetime(tzinfo=UTC),
            attributes=dict(event.attributes),
            trace_context=_span_context(entry.trace_context),
        )
    except (KeyError, ValueError, TypeError, OverflowError, binascii.Error, DecodeError) as exc:
        raise MalformedEntry(f"malformed activity entry: {exc!r}") from exc


async def append(
    redis: aioredis.Redis, key: str, encoded: Sequence[str], maxlen: int = DEFAULT_MAXLEN
) -> None:
    """Appends encoded events (`StreamEvent.encode()`) in one round trip, trimming to ~`maxlen`."""
    if encoded:
        await redis.eval(_APPEND, 1, key, maxlen, *encoded)
