"""The activity event stream: its Redis key, consumer group and entry encoding, in one place.

The activity service owns the stream; producers (the gateway) append with `xadd_args(...)` and the
service's consumer reads it with its consumer group and decodes entries with `decode(...)`.

Key layout follows the kit's namespacing (`<SHOP_REDIS_PREFIX>activity:events`), so every process
of one platform that shares the Redis prefix shares the stream, and test runs never collide.

An entry has one field, `e`, holding the event as a compact JSON object:

    t  event type name ("product_viewed", "searched", ...; see `TYPE_NAMES`)
    u  user id (0: anonymous)        p  product id (0: none)
    q  search text (may be absent)   n  quantity (may be absent)
    at occurrence time, integer microseconds since the Unix epoch (UTC)
    a  attributes, an object of strings (may be absent)

Producers append batches with `append(...)`: one Lua call doing `XADD key MAXLEN ~ bound * e <json>`
per event, so a batch is one round trip and one reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import redis.asyncio as aioredis

from services.kit.redis import Keys
from shop.activity.v1 import activity_pb2

SERVICE = "activity"
STREAM = "events"
GROUP = "activity-store"
# Trim bound of the stream (approximate, `MAXLEN ~`): how many events survive an activity outage.
DEFAULT_MAXLEN = 1_000_000
# An entry has one field holding the event as compact JSON.
FIELD = "e"

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
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return #ARGV - 1
"""


class MalformedEntry(ValueError):
    """A stream entry that does not decode to an event; the consumer skips it."""


@dataclass(frozen=True)
class StreamEvent:
    type: EventType
    user_id: int = 0
    product_id: int = 0
    query: str = ""
    quantity: int = 0
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attributes: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        """The value of the entry's one field, `FIELD`."""
        body: dict[str, Any] = {
            "t": TYPE_NAMES[self.type],
            "u": self.user_id,
            "p": self.product_id,
            "at": to_micros(self.occurred_at),
        }
        if self.query:
            body["q"] = self.query
        if self.quantity:
            body["n"] = self.quantity
        if self.attributes:
            body["a"] = dict(self.attributes)
        return json.dumps(body, separators=(",", ":"))

    def fields(self) -> dict[Any, Any]:
        """The entry for a plain XADD (typed loosely: redis-py wants its own invariant dict type)."""
        return {FIELD: self.encode()}


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    return value


def decode(fields: Mapping[str, str]) -> StreamEvent:
    """The event of one entry; raises MalformedEntry for anything that is not one."""
    try:
        body = json.loads(fields[FIELD])
        if not isinstance(body, dict):
            raise ValueError("not an object")
        attributes = body.get("a", {})
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise ValueError("attributes must be an object of strings")
        query = body.get("q", "")
        if not isinstance(query, str):
            raise ValueError("query must be a string")
        return StreamEvent(
            type=TYPES_BY_NAME[body["t"]],
            user_id=_int(body.get("u", 0)),
            product_id=_int(body.get("p", 0)),
            query=query,
            quantity=_int(body.get("n", 0)),
            occurred_at=from_micros(_int(body["at"])),
            attributes=attributes,
        )
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise MalformedEntry(f"malformed activity entry: {exc!r}") from exc


async def append(
    redis: aioredis.Redis, key: str, encoded: Sequence[str], maxlen: int = DEFAULT_MAXLEN
) -> None:
    """Appends encoded events (`StreamEvent.encode()`) in one round trip, trimming to ~`maxlen`."""
    if encoded:
        await redis.eval(_APPEND, 1, key, maxlen, *encoded)
