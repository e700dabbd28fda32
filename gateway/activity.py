"""Recording what shoppers do, without slowing them down.

Handlers call `ctx.record("product_viewed", product_id=...)` after they succeeded. That only puts
the event on a bounded in-memory queue (no I/O, never raises); a background task appends queued
events in batches to the activity service's Redis stream (`services.kit.activity_stream`: the key,
the entry contract, and `append`: one round trip of `XADD ... MAXLEN ~ bound` per batch). Each event
keeps the span context of the request it came from, so its consumer's span joins that trace. The activity
service consumes the stream with a consumer group, so events recorded while it is down or
restarting wait there for it.

When Redis is slow or away the task retries with a backoff while the queue fills; once the queue is
full new events are dropped (counted and logged), never the request. Recording is off when
`SHOP_REDIS_URL` is unset or `SHOP_ACTIVITY_RECORDING=false`.

Public routes do not authenticate their caller (that would cost a call to auth per request), so
for them the bearer token, if any, goes into the queue as it came and the background task checks it
(signature, expiry and auth's revocation list, `services.kit.revocation`) to attribute the event;
a token that does not count (invalid, logged out, of a deleted account) records an anonymous event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from prometheus_client import Counter
from redis.exceptions import RedisError

from gateway import auth
from gateway.auth import Caller
from gateway.settings import GatewaySettings
from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from services.kit.errors import DomainError
from services.kit.revocation import TokenChecker

log = logging.getLogger("shop.gateway.activity")

EventName = Literal["product_viewed", "searched", "cart_added", "cart_removed", "order_placed", "reviewed"]

ACTIVITY_EVENTS = Counter(
    "shop_activity_events_total", "Activity events recorded by the gateway", ["outcome"]
)

# Entries per `append` (one Lua script call, so one round trip to Redis).
BATCH = 256
# The longest an event waits in the queue for others to share its round trip to Redis.
LINGER_SECONDS = 0.05
# How long shutting down waits for the queue to reach Redis.
FLUSH_SECONDS = 2.0
# At most one "dropping events" / "Redis failing" warning per this many seconds.
WARN_EVERY = 30.0
_MAX_BACKOFF = 5.0
_QUERY_LIMIT = 200
# Span links per batch written (the SDK keeps 128 by default).
_LINKS = 128

_tracer = trace.get_tracer("shop.gateway.activity")


@dataclass(frozen=True)
class _Queued:
    event: stream.StreamEvent
    # The raw bearer token of a public request, checked in the background.
    token: str | None


class ActivityRecorder:
    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        *,
        maxlen: int = stream.DEFAULT_MAXLEN,
        queue_size: int = 10_000,
        tokens: TokenChecker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._key = key
        self._maxlen = maxlen
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize=queue_size)
        self._tokens = tokens
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._warned: dict[str, float] = {}
        self.written = 0
        self.dropped = 0

    # -- the request side: no I/O, never raises ----------------------------------------------------

    def record(
        self,
        name: EventName,
        *,
        caller: Caller | None,
        authorization: str | None = None,
        product_id: int = 0,
        query: str = "",
        quantity: int = 0,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        try:
            token = None
            if caller is None and authorization:
                scheme, _, value = authorization.strip().partition(" ")
                token = value.strip() if scheme.lower() == "bearer" and value.strip() else None
            event = stream.StreamEvent(
                type=stream.TYPES_BY_NAME[name],
                user_id=caller.user_id if caller else 0,
                product_id=product_id,
                query=query[:_QUERY_LIMIT],
                quantity=quantity,
                attributes=dict(attributes or {}),
                trace_context=trace.get_current_span().get_span_context(),
            )
            self._queue.put_nowait(_Queued(event, token))
        except asyncio.QueueFull:
            self.dropped += 1
            ACTIVITY_EVENTS.labels("dropped").inc()
            self._warn("queue", "activity queue full; dropping events", queued=self._queue.qsize())
        except Exception:
            log.exception("cannot record an activity event")

    # -- the background side --------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="activity-recorder")

    async def close(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        """Gives queued events `flush_seconds` to reach Redis, then stops."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush_seconds)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left = self._queue.qsize()
        if left:
            log.warning("activity events not written at shutdown", extra={"count": left})

    async def flush(self) -> None:
        """Waits until every event queued so far is in Redis (or given up on)."""
        await self._queue.join()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _warn(self, topic: str, message: str, **extra: object) -> None:
        now = self._clock()
        if now - self._warned.get(topic, -WARN_EVERY) >= WARN_EVERY:
            self._warned[topic] = now
            log.warning(message, extra={**extra, "dropped_total": self.dropped})

    async def _user_of(self, token: str) -> int:
        """The user a public request's token names, if it still counts (signature, expiry and
        revocation: a logged-out or deleted account's token attributes nothing); 0 otherwise."""
        if self._tokens is None:
            return 0
        try:
            return (await self._tokens.check(token)).user_id
        except DomainError:
            return 0
        except (RedisError, OSError) as exc:
            self._warn("revocation", "cannot check tokens; recording anonymously", error=repr(exc))
            return 0

    @staticmethod
    def _entry(item: _Queued, users: Mapping[str, int]) -> str:
        event = item.event
        user_id = users.get(item.token, 0) if item.token is not None else 0
        if user_id:
            event = dataclasses.replace(event, user_id=user_id)
        return event.encode()

    async def _write(self, batch: list[_Queued], users: Mapping[str, int]) -> None:
        entries = [self._entry(item, users) for item in batch]
        # One producer span per batch, linked to the requests its events came from.
        traced = (item.event.trace_context for item in batch if item.event.trace_context.is_valid)
        links = [Link(ctx) for ctx, _ in zip(traced, range(_LINKS), strict=False)]
        backoff = 0.1
        while True:
            try:
                with _tracer.start_as_current_span(
                    f"{stream.STREAM} publish", kind=SpanKind.PRODUCER, links=links
                ):
                    await stream.append(self._redis, self._key, entries, self._maxlen)
                self.written += len(entries)
                ACTIVITY_EVENTS.labels("written").inc(len(entries))
                return
            except (RedisError, OSError) as exc:
                self._warn("redis", "cannot append activity events; retrying", error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            try:
                if self._queue.qsize() < BATCH - 1:
                    # A moment for more events, so a trickle costs one round trip per LINGER, not per event.
                    await asyncio.sleep(LINGER_SECONDS)
                while len(batch) < BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                tokens = {item.token for item in batch if item.token is not None}
                users = {token: await self._user_of(token) for token in tokens}
                await self._write(batch, users)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dropping a batch of activity events", extra={"count": len(batch)})
            finally:
                for _ in batch:
                    self._queue.task_done()


ACTIVITY = web.AppKey("activity", ActivityRecorder)


def recording(settings: GatewaySettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's cleanup context: the recorder and its Redis client live as long as the app."""

    async def recorder_ctx(app: web.Application) -> AsyncIterator[None]:
        if not settings.activity_recording or not settings.redis_url:
            off = (
                "SHOP_REDIS_URL is not set"
                if settings.activity_recording
                else "SHOP_ACTIVITY_RECORDING=false"
            )
            log.info("activity recording is off", extra={"reason": off})
            yield
            return
        client = kit_redis.connect(settings.redis_url)
        recorder = ActivityRecorder(
            client,
            stream.stream_key(settings.redis_prefix),
            maxlen=settings.activity_stream_maxlen,
            queue_size=settings.activity_queue_size,
            # The gateway's own checker (gateway/auth.py); without it events are anonymous.
            tokens=app.get(auth.TOKENS),
        )
        recorder.start()
        app[ACTIVITY] = recorder
        try:
            yield
        finally:
            await recorder.close()
            await client.aclose()

    return recorder_ctx
