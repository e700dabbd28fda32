"""The stream consumer: moves events from the Redis stream into the database.

One consumer group (`stream.GROUP`) shared by every replica; each replica reads as its own consumer.
An entry is acknowledged (XACK) only after the transaction storing it has committed, so a crash
between the two delivers it again, and the store's unique `source_id` keeps it once.

At start-up, and every `claim_interval` seconds after, the consumer first takes over what is
pending: its own unacknowledged entries (a restart under the same name), then, with XAUTOCLAIM,
entries another consumer read and never acknowledged for longer than `claim_idle` seconds
(a replica that crashed). Redis or database failures are logged and retried with a backoff; the
entries stay pending meanwhile, so nothing is lost.

Each stored batch is one CONSUMER span linked to the requests its events came from, and each event
whose producer's trace was sampled also gets a short span of its own inside that trace. The idle
blocking read is not traced (it would be a trace a second of nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from redis.exceptions import ResponseError

from services.kit import activity_stream as stream

from . import metrics
from .store import ActivityStore, NewEvent

log = logging.getLogger("shop.activity.consumer")

Entry = tuple[str, dict[str, str]]

_tracer = trace.get_tracer("shop.activity.consumer")
# Span links per batch (the SDK keeps 128 by default).
_LINKS = 128
# How often the consumer group's lag is read for the metrics.
LAG_EVERY_SECONDS = 10.0
ATTR_SYSTEM = "messaging.system"
ATTR_DESTINATION = "messaging.destination.name"
ATTR_MESSAGE_ID = "messaging.message.id"
ATTR_BATCH_COUNT = "messaging.batch.message_count"


def _decoded(entries: Sequence[Entry]) -> list[tuple[str, stream.StreamEvent]]:
    found = []
    for entry_id, fields in entries:
        try:
            event = stream.decode(fields)
        except stream.MalformedEntry as exc:
            # Acknowledged with the rest: a bad entry would otherwise come back forever.
            log.warning("skipping a malformed activity entry", extra={"entry": entry_id, "error": str(exc)})
            continue
        found.append((entry_id, event))
    return found


def _new_event(entry_id: str, event: stream.StreamEvent) -> NewEvent:
    return NewEvent(
        type=event.type,
        user_id=event.user_id,
        product_id=event.product_id,
        query=event.query[:200],
        quantity=event.quantity,
        occurred_at=event.occurred_at,
        attributes=dict(event.attributes),
        source_id=entry_id,
    )


class StreamConsumer:
    def __init__(
        self,
        redis: aioredis.Redis,
        store: ActivityStore,
        key: str,
        consumer: str,
        *,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle: float = 60.0,
        claim_interval: float = 30.0,
        linger: float = 0.1,
    ) -> None:
        self._redis = redis
        self._store = store
        self._key = key
        self._consumer = consumer
        self._batch = batch
        self._block_ms = block_ms
        self._claim_idle_ms = int(claim_idle * 1000)
        self._claim_interval = claim_interval
        self._linger = linger
        self.committed = 0
        self._lag_read_at = 0.0

    async def _ensure_group(self) -> None:
        try:
            # From the stream's beginning: events appended before the first start are consumed too.
            await self._redis.xgroup_create(self._key, stream.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _commit(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        decoded = _decoded(entries)
        traced = [(entry_id, e) for entry_id, e in decoded if e.trace_context.is_valid]
        links = [Link(e.trace_context) for _, e in traced[:_LINKS]]
        attributes = {ATTR_SYSTEM: "redis", ATTR_DESTINATION: self._key}
        spans: list[Span] = [
            _tracer.start_span(
                f"{stream.STREAM} process",
                context=e.parent(),
                kind=SpanKind.CONSUMER,
                attributes={**attributes, ATTR_MESSAGE_ID: entry_id},
            )
            for entry_id, e in traced
            if e.trace_context.trace_flags.sampled
        ]
        try:
            with _tracer.start_as_current_span(
                f"{stream.STREAM} process",
                kind=SpanKind.CONSUMER,
                links=links,
                attributes={**attributes, ATTR_BATCH_COUNT: len(entries)},
            ):
                await self._store.add([_new_event(entry_id, e) for entry_id, e in decoded])
                ids = [entry_id for entry_id, _ in entries]
                # Stored entries leave the stream: it holds only what is still to be consumed, so a
                # deleted account's events do not linger there until the stream is trimmed.
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self._key, stream.GROUP, *ids)
                    pipe.xdel(self._key, *ids)
                    await pipe.execute()
        except BaseException:
            for span in spans:
                span.set_status(Status(StatusCode.ERROR, "not stored"))
            raise
        finally:
            for span in spans:
                span.end()
        self.committed += len(decoded)
        metrics.consumed(len(decoded), len(entries) - len(decoded))

    async def _observe_lag(self) -> None:
        if time.monotonic() - self._lag_read_at < LAG_EVERY_SECONDS:
            return
        self._lag_read_at = time.monotonic()
        with suppress_instrumentation():
            length = await self._redis.xlen(self._key)
            groups: Any = await self._redis.xinfo_groups(self._key)
        pending = sum(int(g.get("pending", 0)) for g in groups if g.get("name") == stream.GROUP)
        metrics.observe_stream(length, pending)

    async def _own_pending(self) -> None:
        """Entries delivered to this consumer name before and never acknowledged."""
        after = "0"
        while True:
            reply: Any = await self._redis.xreadgroup(
                stream.GROUP, self._consumer, {self._key: after}, count=self._batch
            )
            entries: list[Entry] = reply[0][1] if reply else []
            # Entries trimmed from the stream while pending come back without fields.
            live = [(eid, fields) for eid, fields in entries if fields]
            dead = [eid for eid, fields in entries if not fields]
            if dead:
                await self._redis.xack(self._key, stream.GROUP, *dead)
            await self._commit(live)
            if not entries:
                return
            after = entries[-1][0]

    async def _claim_abandoned(self) -> None:
        """Entries other consumers read and left unacknowledged for longer than the idle bound."""
        start = "0-0"
        while True:
            reply: Any = await self._redis.xautoclaim(
                self._key,
                stream.GROUP,
                self._consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=start,
                count=self._batch,
            )
            start, entries = reply[0], reply[1]
            claimed = [(eid, fields) for eid, fields in entries if fields]
            if claimed:
                log.info("claimed abandoned activity entries", extra={"count": len(claimed)})
            await self._commit(claimed)
            if start in ("0-0", b"0-0"):
                return

    async def _recover(self) -> None:
        await self._ensure_group()
        await self._own_pending()
        await self._claim_abandoned()

    async def run(self) -> None:
        backoff = 0.1
        recovered_at: float | None = None
        while True:
            try:
                if recovered_at is None or time.monotonic() - recovered_at > self._claim_interval:
                    await self._recover()
                    recovered_at = time.monotonic()
                await self._observe_lag()
                with suppress_instrumentation():
                    reply: Any = await self._redis.xreadgroup(
                        stream.GROUP,
                        self._consumer,
                        {self._key: ">"},
                        count=self._batch,
                        block=self._block_ms,
                    )
                entries = reply[0][1] if reply else []
                await self._commit(entries)
                backoff = 0.1
                if 0 < len(entries) < self._batch:
                    # A trickle: let entries gather, so one transaction stores many.
                    await asyncio.sleep(self._linger)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # NOGROUP (Redis lost its data), Redis or the database away: start over from recovery.
                log.warning("activity stream consumer failed; retrying", extra={"error": repr(exc)})
                recovered_at = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
