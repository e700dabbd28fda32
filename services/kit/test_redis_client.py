"""The kit's Redis client gets through a Redis restart (the first commands after it succeed) and
through a burst of more commands at once than it keeps connections for.

Without the kit's one retry on a closed connection, a pooled connection to the old server failed
its next command ("Connection closed by server") now and then: under load, not every run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deploy.local.redis_server import EmbeddedRedis
from services.kit.redis import MAX_CONNECTIONS, connect
from tests.support.ports import free_port


async def test_the_first_command_after_a_redis_restart_succeeds(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, free_port())
    await server.start(30)
    client = connect(server.url)
    try:
        await client.set("kept", "1")
        # Several pooled connections, as a busy service has.
        await asyncio.gather(*(client.blpop(["nothing"], timeout=0.2) for _ in range(5)))
        server.process.kill()  # SIGKILL: the pooled connection is closed under the client
        await server.process.wait(5)
        server = server.restarted()
        await server.start(30)
        assert await asyncio.gather(*(client.get("kept") for _ in range(5))) == ["1"] * 5
    finally:
        await client.aclose()
        await server.stop()


async def test_a_burst_beyond_the_pool_waits_for_connections_instead_of_failing(tmp_path: Path) -> None:
    """200 shoppers signing in at once are 200 revocation checks in flight in the gateway: with
    redis-py's default pool the 101st failed (MaxConnectionsError, answered 503)."""
    server = EmbeddedRedis(tmp_path, free_port())
    await server.start(30)
    client = connect(server.url)
    try:
        await client.set("kept", "1")
        burst = 2 * MAX_CONNECTIONS
        # Each command holds its connection for a moment, so the burst really is concurrent.
        replies = await asyncio.gather(*(client.blpop([f"none:{n}"], timeout=0.05) for n in range(burst)))
        assert replies == [None] * burst
        assert await client.get("kept") == "1"
    finally:
        await client.aclose()
        await server.stop()
