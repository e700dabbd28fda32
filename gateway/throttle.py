"""Throttles on guessing passwords and on making accounts, counted in Redis so that every gateway
replica shares the counts.

Three limits guard `POST /api/auth/login/`, one `POST /api/auth/register/`; a refused request is
429 with `Retry-After` (whole seconds):

- one client, one account: the first `login_free_failures` wrong passwords cost nothing, then each
  one doubles a wait (1 s, 2 s, 4 s ... at most `login_backoff_max_seconds`); a success, or a quiet
  `login_backoff_forget_seconds`, starts over. Guessing from one place slows to a crawl while the
  account's owner, signing in from elsewhere, is not held up at all.
- one account, every client: at most `login_account_failures` wrong passwords per
  `login_account_window_seconds`, so guessing spread over many addresses is capped too; this is
  the only limit a stranger can push an owner into, and it ends with its window.
- one client: at most `login_client_attempts` logins per minute, whatever the accounts.
- one client: at most `registrations_per_client` new accounts per hour.

The client is the connecting address, or with `forwarded_hops` proxies (an ingress) in front, the
address they saw, read from the right of `X-Forwarded-For`. Accounts are keyed by a hash of the
normalised email, so no address is stored. Each Lua script touches one key (so it runs on Redis
Cluster as is), and reads the time from Redis (so replicas' clocks do not matter). When Redis
cannot be reached the throttles let requests through and log a warning: logins keep working.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from gateway.errors import ApiError
from gateway.rate_limit import RATE_LIMIT, RateLimit, client_address
from gateway.settings import GatewaySettings
from services.kit import redis as kit_redis
from services.kit.emails import normalize_email

log = logging.getLogger("shop.gateway")

TOO_MANY_LOGINS = "Too many sign-in attempts; try again later"
TOO_MANY_REGISTRATIONS = "Too many new accounts from this address; try again later"

# A fixed window of ARGV[2] ms allowing ARGV[1] events. ARGV[3] = "1" counts one (refused when it
# is one too many), "0" only asks whether another would be; either way the answer is the
# milliseconds until the window ends when refused, else 0.
_WINDOW = """
local n
if ARGV[3] == '1' then
  n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
else
  n = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
end
if n <= tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return ttl
"""

# Milliseconds until a back-off ends (0: none running).
_BACKOFF_WAIT = """
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if until_ms > now then return until_ms - now end
return 0
"""

# One more failure: past ARGV[1] free ones, a wait of ARGV[2] ms doubled per extra failure, at most
# ARGV[3] ms; the whole count is forgotten ARGV[4] ms after the last failure.
_BACKOFF_FAIL = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local over = n - tonumber(ARGV[1])
if over > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local wait = math.min(tonumber(ARGV[2]) * 2 ^ math.min(over - 1, 40), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'until', now + wait)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
"""

_BACKOFF_BASE_MS = 1000


@dataclass(frozen=True)
class _Scripts:
    window: AsyncScript
    backoff_wait: AsyncScript
    backoff_fail: AsyncScript


class Throttle:
    def __init__(self, client: aioredis.Redis, settings: GatewaySettings) -> None:
        self._redis = client
        self._settings = settings
        self._base = f"{settings.redis_prefix}gateway:throttle:"
        self._scripts = _Scripts(
            client.register_script(_WINDOW),
            client.register_script(_BACKOFF_WAIT),
            client.register_script(_BACKOFF_FAIL),
        )

    def client_of(self, request: web.Request) -> str:
        return client_address(request, self._settings.forwarded_hops)

    def _account(self, email: str) -> str:
        return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]

    async def before_login(self, client: str, email: str) -> None:
        """429 when this login may not be tried now; counts the attempt against the client."""
        s = self._settings
        account = self._account(email)
        waits = [
            await self._run(
                self._scripts.window, f"login-client:{client}", s.login_client_attempts, 60_000, count=True
            ),
            await self._run(
                self._scripts.window,
                f"login-account:{account}",
                s.login_account_failures,
                int(s.login_account_window_seconds * 1000),
                count=False,
            ),
            await self._run(self._scripts.backoff_wait, f"login-backoff:{account}:{client}"),
        ]
        _refuse_if_waiting(max(waits), TOO_MANY_LOGINS)

    async def login_failed(self, client: str, email: str) -> None:
        s = self._settings
        account = self._account(email)
        await self._run(
            self._scripts.window,
            f"login-account:{account}",
            s.login_account_failures,
            int(s.login_account_window_seconds * 1000),
            count=True,
        )
        await self._run(
            self._scripts.backoff_fail,
            f"login-backoff:{account}:{client}",
            s.login_free_failures,
            _BACKOFF_BASE_MS,
            int(s.login_backoff_max_seconds * 1000),
            int(s.login_backoff_forget_seconds * 1000),
        )

    async def login_succeeded(self, client: str, email: str) -> None:
        try:
            await self._redis.delete(self._key(f"login-backoff:{self._account(email)}:{client}"))
        except RedisError as exc:
            _warn(exc)

    async def before_registration(self, client: str) -> None:
        wait = await self._run(
            self._scripts.window,
            f"register:{client}",
            self._settings.registrations_per_client,
            3_600_000,
            count=True,
        )
        _refuse_if_waiting(wait, TOO_MANY_REGISTRATIONS)

    def _key(self, name: str) -> str:
        return self._base + name

    async def _run(self, script: AsyncScript, name: str, *args: int, count: bool | None = None) -> int:
        argv = [*args, *([] if count is None else [1 if count else 0])]
        try:
            result = await script(keys=[self._key(name)], args=argv)
        except RedisError as exc:
            _warn(exc)
            return 0
        return int(result)


def _refuse_if_waiting(wait_ms: int, message: str) -> None:
    if wait_ms > 0:
        raise ApiError(429, message, {"Retry-After": str(max(1, math.ceil(wait_ms / 1000)))})


def _warn(exc: Exception) -> None:
    log.warning("throttles cannot reach Redis; letting requests through", extra={"error": repr(exc)})


THROTTLE = web.AppKey("throttle", Throttle)


def throttling(settings: GatewaySettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's cleanup context: the throttles' Redis client lives as long as the app. Without
    SHOP_REDIS_URL there is nothing to count in, and the throttles are off (logged once)."""

    async def throttle_ctx(app: web.Application) -> AsyncIterator[None]:
        if not settings.redis_url:
            log.warning(
                "login and registration throttles and the rate limit are off",
                extra={"reason": "SHOP_REDIS_URL is not set"},
            )
            yield
            return
        client = kit_redis.connect(settings.redis_url)
        app[THROTTLE] = Throttle(client, settings)
        if settings.rate_limit_per_second:
            app[RATE_LIMIT] = RateLimit(client, settings)
        try:
            yield
        finally:
            await client.aclose()

    return throttle_ctx
