"""Every answer of a real gateway port carries the security headers, and slow or idle connections
are closed: a raw socket that sends nothing, trickles its headers or its body, or idles after an
answer is cut off within a bound (the timeouts are set to 1 s here; the bound leaves room for a
busy machine, while without the timeouts such a connection stays open for an hour)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator

import pytest

from gateway.conftest import Reply, User
from gateway.routes import ROUTES
from gateway.routing import Route
from tests.security.real_gateway import Gateway, parse_answer, serve_gateway
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1.0
BOUND = 10.0
SERVICES = ("auth", "catalog", "profile", "cart", "inventory", "orders", "reviews", "content")


@pytest.fixture(scope="module")
async def gateway(platform: Platform, tokens: TokenFactory) -> AsyncIterator[Gateway]:
    for name in SERVICES:
        await platform.start(name)
    async with serve_gateway(
        platform, tokens, http_idle_timeout_seconds=TIMEOUT, http_body_timeout_seconds=TIMEOUT
    ) as gateway:
        yield gateway


# --- security headers -----------------------------------------------------------------------------


def _assert_hardened(headers: dict[str, str], *, private: bool, what: object) -> None:
    assert headers.get("x-content-type-options") == "nosniff", what
    # No "Python/3.11 aiohttp/3.x": nothing names a version.
    assert headers.get("server") == "shop", (what, headers.get("server"))
    assert not re.search(r"\d", headers.get("server", "")), what
    if private:
        assert headers.get("cache-control") == "no-store", what


def _lower(reply: Reply) -> dict[str, str]:
    return {k.lower(): v for k, v in reply.headers.items()}


def _path(route: Route) -> str:
    # Ids nothing has: these calls change no shared state (another user, the admin, a zone).
    return re.sub(r"\{(\w+)\}", lambda m: "ups" if m[1] == "slug" else str(2**62), route.full_path)


async def test_every_route_answers_with_the_security_headers(gateway: Gateway) -> None:
    api, admin = gateway.api, gateway.admin
    for route in ROUTES:
        # Logging out or deleting the account ends the caller: a throwaway customer, never the admin.
        ending = route.operation_id in ("logout", "delete_account")
        caller = (await api.register()).token if ending else admin
        for token in (None, caller):
            reply = await api.call(
                route.method, _path(route), json_body={} if route.request else None, token=token
            )
            # Whatever the answer (2xx, 4xx or a service's 5xx), tokens and personal data are never
            # cached: only a public read made without a token may be.
            public = route.method == "GET" and route.auth == "public" and token is None
            _assert_hardened(_lower(reply), private=not public, what=(route.method, route.path, reply))


async def test_tokens_and_personal_data_are_no_store(gateway: Gateway) -> None:
    api = gateway.api
    user: User = await api.register()
    login = await api.post("/api/auth/login/", {"email": user.email, "password": user.password})
    assert login.status == 200, login
    answers = [
        login,
        await api.get("/api/auth/me/", token=user.token),
        await api.get("/api/profile/", token=user.token),
        await api.get("/api/cart/", token=user.token),
        await api.get("/api/orders/", token=user.token),
    ]
    for reply in answers:
        assert reply.status == 200, reply
        _assert_hardened(_lower(reply), private=True, what=reply)
    # A public read without a token may be cached; with one it is the caller's and is not.
    public = await api.get("/api/products/")
    assert public.status == 200
    assert "no-store" not in public.headers.get("Cache-Control", ""), public.headers
    _assert_hardened(_lower(await api.get("/api/products/", token=user.token)), private=True, what="token")


async def test_error_answers_carry_the_security_headers(gateway: Gateway) -> None:
    api = gateway.api
    answers = [
        await api.get("/api/nope"),  # 404
        await api.call("PATCH", "/api/products/"),  # 405
        await api.post("/api/auth/login/", data=b"x" * (2 * 1024 * 1024)),  # 413
    ]
    assert [a.status for a in answers] == [404, 405, 413]
    for reply in answers:
        _assert_hardened(_lower(reply), private=True, what=reply)
    # aiohttp's own protocol errors never reach the app: gateway/server.py answers them.
    status, headers, body = await gateway.raw(b"GET /api/\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400, body
    _assert_hardened(headers, private=True, what=body)


# --- slow and idle connections ----------------------------------------------------------------


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every: float = 0.2) -> None:
    """Sends `data` a byte at a time until done or the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(every)


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open at BOUND."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=BOUND)
    except ConnectionResetError:
        return b""
    except TimeoutError:
        pytest.fail(f"the connection was still open after {BOUND} s")


async def test_a_connection_that_sends_nothing_is_closed(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        assert await _until_closed(reader) == b""
    finally:
        writer.close()


async def test_trickled_headers_are_cut_off(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    sender = asyncio.create_task(_trickle(writer, head))
    try:
        assert await _until_closed(reader) == b""
        assert not sender.done(), "the whole request went out: the test proves nothing"
    finally:
        sender.cancel()
        writer.close()


async def test_a_trickled_body_is_408_and_closed(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    body = json.dumps({"email": "slow@example.com", "password": "x" * 200}).encode()
    head = (
        b"POST /api/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    writer.write(head)
    sender = asyncio.create_task(_trickle(writer, body))
    try:
        status, headers, answer = parse_answer(await _until_closed(reader))
        assert status == 408, answer
        assert json.loads(answer) == {"error": "Request body not received in time"}
        _assert_hardened(headers, private=True, what=answer)
        assert not sender.done()
    finally:
        sender.cancel()
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=BOUND)
        status, headers, _ = parse_answer(head)
        assert status == 200
        await reader.readexactly(int(headers["content-length"]))
        # The connection stays open for the next request only as long as the idle timeout.
        assert await _until_closed(reader) == b""
    finally:
        writer.close()
