"""The Redis client of a service. Keys are namespaced `<prefix><service>:` so services never
touch each other's keys and several platforms or test runs can share one server."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from services.kit import telemetry


def connect(url: str) -> redis.Redis:
    """A client whose every command is traced (a client span per command, pipeline or script).

    A pooled connection that the server closed (Redis restarted) fails its next command; that one
    command is sent again at once on a new connection. Safe for any command: a connection the
    server closed did not take it, and a server that died under it is not back within the retry.
    Timeouts are not retried (the command may have run)."""
    client = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=10,
        retry=Retry(NoBackoff(), retries=1),
        retry_on_error=[RedisConnectionError],
    )
    telemetry.trace_redis(client)
    return client


class Keys:
    def __init__(self, prefix: str, service: str) -> None:
        self._base = f"{prefix}{service}:"

    def __call__(self, *parts: object) -> str:
        return self._base + ":".join(str(p) for p in parts)
