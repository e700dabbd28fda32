"""The kit's Redis client gets through a Redis restart: the first commands after it succeed.

Without the kit's one retry on a closed connection, a pooled connection to the old server failed
its next command ("Connection closed by server") now and then: under load, not every run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deploy.local.redis_server import EmbeddedRedis
from services.kit.redis import connect
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
