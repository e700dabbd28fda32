"""Public product answers (the product page and the listings) kept in the gateway as JSON bytes for
a moment, so that a popular page costs one dict lookup instead of two or three RPCs.

The bound: an answer is served at most `SHOP_PRODUCT_CACHE_SECONDS` (1 s) after the reads that made
it began, whatever changed meanwhile and wherever (a checkout's stock commit, a reservation
expiring, a signals pass); a product that went out of stock shows as such within that bound.
Changes made through the API are visible at once on every replica: each successful write to
products, stock, reviews, orders or the catalog clears this replica's answers and publishes on
`<prefix>catalog:changed`, which every replica's listener turns into the same clear. Without Redis
(or while its subscription is down) the bound still holds by expiry alone.

Only public routes use it: their answers do not depend on the caller (the gateway forwards no token
for them, so every service answers as to an anonymous visitor). Concurrent misses of one key wait
for a single fetch; an answer past half its life is refetched in the background while still served
(a busy page never waits for a miss); an answer fetched across a clear is served to its waiters but
not kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web
from cachetools import TLRUCache
from pydantic import BaseModel
from redis.exceptions import RedisError

from gateway.routing import Ctx, Route
from gateway.settings import GatewaySettings
from services.kit import redis as kit_redis
from services.kit.tasks import cancel_and_wait

log = logging.getLogger("shop.gateway.cache")

CHANNEL = "catalog:changed"
# Writes under these paths can change a product answer (its fields, categories, stock or rating).
CHANGING_PATHS = (
    "/products/",
    "/admin/catalog/",
    "/inventory/",
    "/reviews/",
    "/admin/reviews/",
    "/orders/",
    "/admin/users/",
    "/admin/orders/",
    "/auth/me/",
)


@dataclass(frozen=True)
class Answer:
    """A serialized answer and what a hit must repeat besides the body."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    # How many results it held (the "searched" activity event records it on every hit too).
    results: int = 0
    # The product it shows (the "product_viewed" event of a hit by slug needs the id).
    product_id: int = 0
    # The monotonic time after which it is no longer served.
    expires: float = 0.0


def _expiry(_key: str, answer: Answer, _now: float) -> float:
    return answer.expires


class AnswerCache:
    def __init__(
        self, ttl_seconds: float, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._answers: TLRUCache[str, Answer] = TLRUCache(maxsize=max_entries, ttu=_expiry, timer=clock)
        self._fetching: dict[str, asyncio.Task[Answer]] = {}
        # Bumped by every clear, so an answer read before one is never kept after it.
        self._generation = 0

    async def get(self, key: str, fetch: Callable[[], Awaitable[Answer]]) -> Answer:
        """The answer under `key`, fetched when missing or expired (errors are not kept). An answer
        past half its life is fetched again in the background while it is still served, so a busy
        key is never missing; it is never served past its expiry."""
        if self.ttl <= 0:
            return await fetch()
        answer = self._answers.get(key)
        if answer is not None:
            if answer.expires - self._clock() < self.ttl / 2 and key not in self._fetching:
                self._start(key, fetch)
            return answer
        task = self._fetching.get(key) or self._start(key, fetch)
        # A caller that goes away does not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    def _start(self, key: str, fetch: Callable[[], Awaitable[Answer]]) -> asyncio.Task[Answer]:
        task = asyncio.ensure_future(self._fetch(key, fetch, self._clock(), self._generation))
        self._fetching[key] = task
        task.add_done_callback(lambda t: self._fetched(key, t))
        return task

    async def _fetch(
        self, key: str, fetch: Callable[[], Awaitable[Answer]], started: float, generation: int
    ) -> Answer:
        answer = await fetch()
        answer = dataclasses.replace(answer, expires=started + self.ttl)
        if generation == self._generation:
            self._answers[key] = answer
        return answer

    def _fetched(self, key: str, task: asyncio.Task[Answer]) -> None:
        if self._fetching.get(key) is task:
            del self._fetching[key]
        if not task.cancelled():
            task.exception()  # retrieved here: whoever waited has it; nobody else must log it

    def clear(self) -> None:
        self._generation += 1
        self._answers.clear()
        # Fetches under way read before the change: later callers must not join them.
        self._fetching.clear()

    def __len__(self) -> int:
        return len(self._answers)


class ChangeChannel:
    """Where every replica hears of catalog changes (Redis pub/sub)."""

    def __init__(self, cache: AnswerCache, client: aioredis.Redis | None, channel: str) -> None:
        self.cache = cache
        self._client = client
        self._channel = channel

    async def changed(self) -> None:
        """A write went through: clear here at once, then tell the other replicas."""
        self.cache.clear()
        if self._client is None:
            return
        try:
            await self._client.publish(self._channel, "1")
        except (RedisError, OSError) as exc:
            log.warning("cannot publish a catalog change", extra={"error": repr(exc)})

    async def listen(self, retry_seconds: float = 1.0) -> None:
        """Runs for the life of the app: every message (and every reconnect) clears the answers."""
        if self._client is None:
            return
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None and message["type"] in ("subscribe", "message"):
                        self.cache.clear()
            except (RedisError, OSError) as exc:
                log.warning("catalog change channel lost", extra={"error": repr(exc)})
            finally:
                self.cache.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(retry_seconds)


CHANGES = web.AppKey("catalog_changes", ChangeChannel)


def caching(settings: GatewaySettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's cleanup context: the cache, and its Redis listener when Redis is configured."""

    async def cache_ctx(app: web.Application) -> AsyncIterator[None]:
        client = kit_redis.connect(settings.redis_url) if settings.redis_url else None
        channel = ChangeChannel(
            AnswerCache(settings.product_cache_seconds), client, settings.redis_prefix + CHANNEL
        )
        app[CHANGES] = channel
        listener = asyncio.create_task(channel.listen())
        try:
            yield
        finally:
            await cancel_and_wait(listener)
            if client is not None:
                await client.aclose()

    return cache_ctx


def serialized(model: BaseModel) -> bytes:
    """The same bytes as the gateway's uncached JSON answers."""
    return model.model_dump_json().encode()


async def cached(ctx: Ctx, fetch: Callable[[], Awaitable[Answer]]) -> Answer:
    """The public answer of this request (path and query) from the cache, else fetched; its
    headers are set on the response."""
    channel = ctx.request.app.get(CHANGES)
    request = ctx.request
    if channel is None:
        answer = await fetch()
    else:
        answer = await channel.cache.get(request.path.rstrip("/") + "?" + request.query_string, fetch)
    ctx.headers.update(answer.headers)
    return answer


def publishing_changes(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    """The routes, with every write that can change a product answer clearing the answers on
    every replica once it ends (failed ones too: part of the write may have happened)."""

    def wrap(route: Route) -> Route:
        if route.method == "GET" or not route.path.startswith(CHANGING_PATHS):
            return route
        handler = route.handler

        @functools.wraps(handler)
        async def changing(ctx: Ctx) -> BaseModel:
            try:
                return await handler(ctx)
            finally:
                channel = ctx.request.app.get(CHANGES)
                if channel is not None:
                    await channel.changed()

        return dataclasses.replace(route, handler=changing)

    return tuple(wrap(route) for route in routes)
