"""Fixtures of the checkout acceptance tests: the gateway app on a real 127.0.0.1 port in front of
the real services (the root conftest's `platform`), and a plain aiohttp client talking real HTTP.

Customers are not registered (argon2 hashing costs ~0.3 s each): their tokens are minted with the
platform's signing key. The gateway checks the signature and revocation only (as every
service does), so a minted customer token for any id is accepted like a logged-in one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.conftest import Api, gateway_settings
from services.kit.server import RunningService
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory

SERVICES = ("auth", "catalog", "inventory", "cart", "payments", "orders")
# Inventory sweeps often enough for a test to watch a reservation expire.
SWEEP_SECONDS = 0.2


async def restart(platform: Platform, name: str, **overrides: Any) -> RunningService:
    await platform.stop(name)
    return await platform.start(name, **overrides)


@pytest.fixture(scope="module")
async def services(platform: Platform) -> None:
    running = platform.running.get("inventory")
    if running is None or getattr(running.runtime.settings, "sweep_interval_seconds", 0) > SWEEP_SECONDS:
        await restart(platform, "inventory", sweep_interval_seconds=SWEEP_SECONDS)
    for name in SERVICES:
        await platform.start(name)


@pytest.fixture(scope="module")
async def http(platform: Platform, services: None) -> AsyncIterator[Api]:
    # Every service runs on this test process's one event loop, so 200 checkouts at once queue far
    # longer than across a deployment's processes: the deadlines here are for the guarantees under
    # test, not for latency (benchmarks/checkout.py measures that against real processes).
    settings = gateway_settings(platform, rpc_timeout_seconds=60, checkout_timeout_seconds=60)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    # Enough connections for 200 requests in flight at once at the gateway.
    connector = aiohttp.TCPConnector(limit=250)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        yield Api(session, str(server.make_url("/api")))
    await server.close()


@dataclass(frozen=True)
class Tokens:
    factory: TokenFactory

    @property
    def admin(self) -> str:
        return self.factory.admin()

    def customer(self) -> tuple[int, str]:
        user_id = random.randint(10**9, 10**12)
        return user_id, self.factory.customer(user_id)


@pytest.fixture(scope="module")
def people(tokens: TokenFactory) -> Tokens:
    return Tokens(tokens)
