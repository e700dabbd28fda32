"""The Redis client of a service. Keys are namespaced `<prefix><service>:` so services never
touch each other's keys and several platforms or test runs can share one server.

`redis+cluster://host:port` (or `rediss+cluster://`) in SHOP_REDIS_URL speaks to a Redis Cluster
through any of its nodes: a script or transaction then touches keys of one hash slot only, which
the stores arrange with `hash_tag` (`{user:123}`: only the part in braces picks the slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from services.kit import telemetry

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "health_check_interval": 10,
}
# Connections one client opens to a single server at most. A burst beyond them waits for a free
# one (up to POOL_WAIT_SECONDS) instead of failing: redis-py's default pool refuses the 101st
# concurrent command with MaxConnectionsError, which 200 shoppers signing in at once met.
MAX_CONNECTIONS = 100
POOL_WAIT_SECONDS = 5.0


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def connect(url: str) -> redis.Redis:
    """A client whose every command is traced (a client span per command, pipeline or script).
    A cluster client answers the same commands; it is typed as the plain one its callers use.

    On a single server, a pooled connection that the server closed (Redis restarted) fails its
    next command; that one command is sent again at once on a new connection. Safe for any command:
    a connection the server closed did not take it, and a server that died under it is not back
    within the retry.
    Timeouts are not retried (the command may have run). At most MAX_CONNECTIONS commands are
    in flight at once; more wait their turn."""
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        # A cluster has database 0 only: a "/0" path is dropped, any other number refused.
        address, _, db = rest.partition("/")
        if db.split("?")[0] not in ("", "0"):
            raise ValueError(f"a Redis Cluster has database 0 only, not {db!r}")
        query = db.partition("?")[2]
        plain = f"{CLUSTER_SCHEMES[scheme]}://{address}" + (f"?{query}" if query else "")
        cluster = RedisCluster.from_url(plain, **_OPTIONS)
        telemetry.trace_redis(cluster)
        return cast("redis.Redis", cluster)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        **_OPTIONS,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
        retry_on_error=[RedisConnectionError],
    )
    client = redis.Redis.from_pool(pool)  # closing the client closes its pool
    telemetry.trace_redis(client)
    return client


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


async def ready(client: redis.Redis) -> None:
    """A cluster client learns the slot map on its first command; its pub/sub needs the map first."""
    if is_cluster(client):
        await cast("RedisCluster", client).initialize()


def hash_tag(value: object) -> str:
    """`value` as a Redis Cluster hash tag: keys that hold the same tag live in the same slot."""
    return "{" + str(value) + "}"


async def mget(client: redis.Redis, keys: Sequence[str]) -> list[Any]:
    """MGET of keys that may sit in different slots: one command on a single server, one per
    slot on a cluster (the answers are read at slightly different moments there)."""
    if is_cluster(client):
        return list(await cast("RedisCluster", client).mget_nonatomic(list(keys)))
    return list(await client.mget(list(keys)))


class Keys:
    def __init__(self, prefix: str, service: str) -> None:
        self._base = f"{prefix}{service}:"

    def __call__(self, *parts: object) -> str:
        return self._base + ":".join(str(p) for p in parts)
