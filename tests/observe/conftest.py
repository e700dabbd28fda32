"""The gateway on a real 127.0.0.1 port in front of the services a checkout and its activity
event go through (the root conftest's `platform`), and a plain HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.conftest import Api, gateway_settings
from tests.support.harness import Platform

SERVICES = ("auth", "catalog", "inventory", "cart", "payments", "orders", "activity")


@pytest.fixture(scope="module")
async def http(platform: Platform) -> AsyncIterator[Api]:
    for name in SERVICES:
        await platform.start(name)
    server = TestServer(create_app(gateway_settings(platform)), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Api(session, str(server.make_url("/api")))
    await server.close()
