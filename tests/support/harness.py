"""Runs the domain services in the test process, each a real grpc.aio server on a real port,
with real storage (SQLite files or PostgreSQL, an embedded or external Redis)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from deploy.local.keys import KeyFiles
from services.kit.clients import CHANNEL_OPTIONS
from services.kit.config import SERVICE_PORTS, ServiceSettings, load
from services.kit.server import RunningService, start
from tests.support.ports import free_port

StubT = TypeVar("StubT")


class Platform:
    def __init__(
        self, data_dir: Path, keys: KeyFiles, database_url: str, redis_url: str, redis_prefix: str
    ) -> None:
        self.data_dir = data_dir
        self.keys = keys
        self.database_url = database_url
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        # Every service's port is fixed up front so each knows where the others are.
        self.ports = {name: free_port() for name in SERVICE_PORTS}
        self.running: dict[str, RunningService] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def env(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "auth_public_key_file": self.keys.public_key,
            "auth_private_key_file": self.keys.private_key,
            "admin_email": "admin@shop.test",
            "admin_password": "admin-password-123",
            "service_secret_file": self.keys.service_secret,
            "metrics_port": 0,
            # Payments' card tokenization endpoint on a free port (runtime.http_ports["tokens"]).
            "payments_http_port": 0,
            "drain_seconds": 0,
            # Catalog: tests run the listing-signals pass themselves (services/catalog/test_signals.py)
            # instead of a background pass overwriting signals they set.
            "signals_interval_seconds": 3600,
            **{f"{name}_addr": f"127.0.0.1:{port}" for name, port in self.ports.items()},
        }

    def settings(self, name: str, **overrides: Any) -> ServiceSettings:
        module = importlib.import_module(f"services.{name}.service")
        settings_class: type[ServiceSettings] = getattr(module, "Settings", ServiceSettings)
        values = {"service_name": name, "grpc_port": self.ports[name], **self.env(), **overrides}
        return load(settings_class, **values)

    async def start(self, name: str, **overrides: Any) -> RunningService:
        if name not in self.running:
            module = importlib.import_module(f"services.{name}.service")
            self.running[name] = await start(self.settings(name, **overrides), module.build)
            # Channels to one address share their connection in this process: connecting ours now
            # ends any reconnect back-off that callers of a previously stopped instance are in.
            await asyncio.wait_for(self.channel(name).channel_ready(), timeout=10)
        return self.running[name]

    async def stop(self, name: str) -> None:
        running = self.running.pop(name, None)
        if running is not None:
            await running.stop(grace=0)

    def http_port(self, name: str, api: str) -> int:
        """The bound port of an HTTP API a running service serves beside gRPC."""
        return self.running[name].runtime.http_ports[api]

    def channel(self, name: str) -> grpc.aio.Channel:
        if name not in self._channels:
            self._channels[name] = grpc.aio.insecure_channel(
                f"127.0.0.1:{self.ports[name]}", options=CHANNEL_OPTIONS
            )
        return self._channels[name]

    def stub(self, stub_class: Callable[[grpc.aio.Channel], StubT], name: str) -> StubT:
        return stub_class(self.channel(name))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        for name in list(self.running):
            await self.stop(name)
