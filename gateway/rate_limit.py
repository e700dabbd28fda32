"""Requests per client, counted in Redis so the limit holds across every gateway replica.

A client (the connecting address, or what the trusted proxies in front saw, as for the login
throttles) may send `rate_limit_per_second` requests a second on average, and `rate_limit_burst`
at once; past that it is answered 429 `{"error": ...}` with `Retry-After`. The budget is a GCRA
bucket in one Redis key per client. So that a busy client does not cost a Redis round trip per
request, a replica takes a few requests' worth from the bucket at a time and spends them locally
within a second (a client close to its limit may be refused up to that handful early, never let
through late). When Redis cannot be reached, requests go through and a warning is logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from gateway.errors import ApiError
from gateway.settings import GatewaySettings

log = logging.getLogger("shop.gateway")

TOO_MANY_REQUESTS = "Too many requests from this address; slow down"
# Requests taken from the shared bucket at once, at most; they are spent within LEASE_SECONDS or dropped.
MAX_TAKE = 10
LEASE_SECONDS = 1.0
# Clients remembered per replica; beyond this the oldest leases are forgotten (Redis keeps the count).
MAX_CLIENTS = 10_000
_WARN_EVERY_SECONDS = 60.0
# Liveness probes come from the cluster itself.
_EXEMPT = frozenset({"/api/health", "/api/health/"})

# GCRA: KEYS[1] holds the theoretical arrival time in ms. ARGV = ms between requests at the steady
# rate, ms of burst allowance, requests taken. Returns 0 when taken, else ms until they could be.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local after = tat + tonumber(ARGV[1]) * tonumber(ARGV[3])
local over = after - now - tonumber(ARGV[2])
if over > 0 then return math.ceil(over) end
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil(after - now) + 1000)
return 0
"""


@dataclass
class _Client:
    """What one replica knows of a client: requests taken and not spent yet (until `until`), when
    a refusal ends, and the Redis ask in flight that its other requests wait for."""

    left: int = 0
    until: float = 0.0
    refused_until: float = 0.0
    asking: asyncio.Future[None] | None = None


class RateLimit:
    def __init__(self, client: aioredis.Redis, settings: GatewaySettings) -> None:
        self._take = client.register_script(_TAKE)
        self._base = f"{settings.redis_prefix}gateway:rate:"
        self._interval_ms = 1000.0 / settings.rate_limit_per_second
        self._burst_ms = settings.rate_limit_burst * self._interval_ms
        # A tenth of a second's worth, so a replica's unspent handful is a small share of the budget.
        per_tenth = int(settings.rate_limit_per_second / 10)
        self._chunk = max(1, min(MAX_TAKE, per_tenth, settings.rate_limit_burst))
        self._hops = settings.forwarded_hops
        self._clients: dict[str, _Client] = {}
        self._warned = -_WARN_EVERY_SECONDS

    async def admit(self, request: web.Request) -> None:
        """Spends one request of the caller's budget, or refuses with 429 and `Retry-After`."""
        address = client_address(request, self._hops)
        while True:
            now = time.monotonic()
            known = self._clients.get(address)
            if known is None:
                known = self._remember(address)
            if known.refused_until > now:  # refused again without asking Redis until it ends
                _refuse(known.refused_until - now)
            if known.left > 0 and known.until > now:
                known.left -= 1
                return
            if known.asking is None:
                break
            await asyncio.shield(known.asking)  # one ask per client at a time, then look again
        known.asking = asyncio.get_running_loop().create_future()
        try:
            taken = self._chunk
            wait_ms = await self._ask(address, taken)
            if wait_ms and taken > 1:  # not a handful left: perhaps one
                taken = 1
                wait_ms = await self._ask(address, taken)
        finally:
            known.asking.set_result(None)
            known.asking = None
        now = time.monotonic()
        if wait_ms:
            known.refused_until = now + wait_ms / 1000
            _refuse(wait_ms / 1000)
        known.left, known.until = taken - 1, now + LEASE_SECONDS

    def _remember(self, address: str) -> _Client:
        if len(self._clients) >= MAX_CLIENTS:
            for old in list(self._clients)[: MAX_CLIENTS // 10]:
                del self._clients[old]
        known = self._clients[address] = _Client()
        return known

    async def _ask(self, address: str, count: int) -> int:
        try:
            result = await self._take(
                keys=[self._base + address], args=[self._interval_ms, self._burst_ms, count]
            )
        except RedisError as exc:
            now = time.monotonic()
            if now - self._warned >= _WARN_EVERY_SECONDS:
                self._warned = now
                log.warning(
                    "rate limit cannot reach Redis; letting requests through", extra={"error": repr(exc)}
                )
            return 0
        return int(result)


def _refuse(seconds: float) -> None:
    raise ApiError(429, TOO_MANY_REQUESTS, {"Retry-After": str(max(1, math.ceil(seconds)))})


RATE_LIMIT = web.AppKey("rate_limit", RateLimit)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def limiting(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app.get(RATE_LIMIT)
    if limit is not None and request.path not in _EXEMPT and request.method != "OPTIONS":
        await limit.admit(request)
    return await handler(request)


def client_address(request: web.Request, hops: int) -> str:
    """The caller's address: the connection's, or what the `hops` trusted proxies in front saw
    (read from the right of X-Forwarded-For)."""
    if hops:
        seen = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        seen = [part for part in seen if part]
        if len(seen) >= hops:
            return seen[-hops][:64]
    return request.remote or "unknown"
