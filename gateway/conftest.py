"""Fixtures of the gateway's tests: the real app on a real port, in front of real services.

The services come from the root conftest's `platform`; each test module starts the ones it
needs (`await platform.start(name)` is idempotent). Users are registered and logged in through
the API itself; the admin is the one the harness seeds into the auth service.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.settings import GatewaySettings, load_settings
from tests.support.harness import Platform

CORS_ORIGIN = "http://shop.test"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]


@dataclass(frozen=True)
class User:
    user_id: int
    email: str
    password: str
    token: str


class Api:
    """A small curl: every answer is read as JSON (every answer of the gateway is JSON). Paths go to
    an aiohttp TestClient as they are, or to a ClientSession after `base` (a gateway on a real port)."""

    def __init__(self, client: TestClient[Any, Any] | aiohttp.ClientSession, base: str = "") -> None:
        self.client = client
        self.base = base

    async def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        token: str | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = json.dumps(json_body)
            sent.setdefault("Content-Type", "application/json")
        async with self.client.request(
            method, self.base + path, data=data, headers=sent, params=params
        ) as response:
            raw = await response.read()
            assert response.content_type == "application/json" or not raw, (response.status, raw[:200])
            return Reply(response.status, json.loads(raw) if raw else None, response.headers)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, json_body, **kwargs)

    async def put(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return await self.call("PUT", path, json_body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    async def register(self) -> User:
        email, password = f"u{uuid4().hex[:16]}@example.com", f"pw-{uuid4().hex}"
        registered = await self.post("/api/auth/register/", {"email": email, "password": password})
        assert registered.status == 201, registered
        logged_in = await self.post("/api/auth/login/", {"email": email, "password": password})
        assert logged_in.status == 200, logged_in
        return User(registered.body["user_id"], email, password, logged_in.body["token"])


def assert_error(reply: Reply, *statuses: int, mentions: str = "") -> None:
    """The reply is `{"error": "..."}` with one of `statuses`, its message naming `mentions`."""
    assert reply.status in statuses, reply
    assert isinstance(reply.body, dict), reply
    assert set(reply.body) == {"error"}, reply
    assert reply.body["error"], reply
    assert mentions in reply.body["error"], reply


def gateway_settings(platform: Platform, **overrides: Any) -> GatewaySettings:
    return load_settings(
        **{
            **platform.env(),
            "port": 0,
            "metrics_port": 0,
            "cors_origins": [CORS_ORIGIN],
            # The whole suite signs up and signs in from 127.0.0.1; gateway/test_throttle.py sets its own.
            "registrations_per_client": 1_000_000,
            "login_client_attempts": 1_000_000,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
async def api(platform: Platform) -> AsyncIterator[Api]:
    await platform.start("auth")
    async with TestClient(TestServer(create_app(gateway_settings(platform)))) as client:
        yield Api(client)


@pytest.fixture(scope="session")
async def admin(api: Api, platform: Platform) -> User:
    env = platform.env()
    email, password = env["admin_email"], env["admin_password"]
    reply = await api.post("/api/auth/login/", {"email": email, "password": password})
    assert reply.status == 200, reply
    me = await api.get("/api/auth/me/", token=reply.body["token"])
    return User(me.body["user_id"], email, password, reply.body["token"])


@pytest.fixture(scope="session")
async def customer(api: Api) -> User:
    """A customer shared by the tests that do not care about the user's own state."""
    return await api.register()


@pytest.fixture
async def user(api: Api) -> User:
    """A fresh customer with an empty cart and no orders."""
    return await api.register()


@pytest.fixture
async def other_user(api: Api) -> User:
    return await api.register()


async def new_product(api: Api, admin: User, *, price: float = 12.5, stock: int | None = 10) -> int:
    body: dict[str, Any] = {"name": f"Thing {uuid4().hex[:8]}", "price": price, "description": "a thing"}
    if stock is not None:
        body["stock"] = stock
    reply = await api.post("/api/products/", body, token=admin.token)
    assert reply.status == 201, reply
    product_id: int = reply.body["id"]
    return product_id
