"""A hostile corpus against a real gateway on a real 127.0.0.1 port (served as `python -m gateway`
serves it) in front of the real services: bodies nested thousands deep, numbers no column holds,
header bytes that are not UTF-8, times that leave the calendar, requests aiohttp cannot parse, a
client that hangs up mid-body. Every answer is a JSON `{"error": ...}` below 500 that echoes
nothing back, and nothing is logged or counted as an unhandled error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.conftest import Reply
from gateway.middlewares import HTTP_REQUESTS
from gateway.routes import ROUTES
from gateway.routing import Route
from services.kit import paging
from services.kit.config import SERVICE_PORTS
from services.shipping.test_shipping import start_shipping, webhook_headers
from tests.security.real_gateway import Gateway, serve_gateway
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory

pytestmark = pytest.mark.timeout(120)

DEPTH = 5000
HUGE = "9" * 5000
# Values that would show that an answer echoed what it was sent.
MARKER = "ZZhostileZZ"


@pytest.fixture(scope="module")
async def gateway(platform: Platform, tokens: TokenFactory) -> AsyncIterator[Gateway]:
    for name in SERVICE_PORTS:
        if name != "shipping":
            await platform.start(name)
    await start_shipping(platform)
    async with serve_gateway(platform, tokens) as gateway:
        yield gateway


def _server_errors() -> float:
    return sum(
        sample.value
        for metric in HTTP_REQUESTS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["status"].startswith("5")
    )


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever the test sends, nothing counts as a 5xx and nothing logs an unhandled error."""
    before = _server_errors()
    with caplog.at_level(logging.INFO):
        yield
    assert _server_errors() == before
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR or "unhandled" in r.getMessage()]
    assert not unhandled, [(r.name, r.getMessage(), r.exc_info) for r in unhandled]


def _assert_json_error(reply: Reply, *, sent: str = MARKER) -> None:
    assert 400 <= reply.status < 500, reply
    assert isinstance(reply.body, dict), reply
    assert set(reply.body) == {"error"}, reply
    assert sent not in reply.body["error"], reply


def _path(route: Route, value: str = "1") -> str:
    """The route's path with every parameter filled in (slugs get a slug)."""
    return re.sub(r"\{(\w+)\}", lambda m: "ups" if m[1] == "slug" else value, route.full_path)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# --- bodies --------------------------------------------------------------------------------------

BODY_ROUTES = [r for r in ROUTES if r.request is not None or r.path == "/shipping/webhooks/{slug}"]


@pytest.mark.parametrize("shape", ["object", "array"])
async def test_deeply_nested_bodies_are_400_on_every_route(gateway: Gateway, shape: str) -> None:
    text = _nested(DEPTH) if shape == "object" else '{"a":' + "[" * DEPTH + "]" * DEPTH + "}"
    for route in BODY_ROUTES:
        reply = await gateway.api.call(
            route.method,
            _path(route),
            data=text,
            token=gateway.admin,
            headers={"Content-Type": "application/json", **webhook_headers(text.encode())},
        )
        _assert_json_error(reply)
        assert reply.status == 400, (route.method, route.path, reply)


async def test_signed_webhook_with_out_of_range_time_is_400(gateway: Gateway) -> None:
    for occurred in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"):
        body = json.dumps(
            {"tracking_number": "1Z999AA10123456784", "status": "in_transit", "occurred_at": occurred}
        ).encode()
        reply = await gateway.api.call(
            "POST", "/api/shipping/webhooks/ups", data=body, headers=webhook_headers(body)
        )
        _assert_json_error(reply)


# --- numbers beyond storage ---------------------------------------------------------------------

ID_ROUTES = [r for r in ROUTES if any(p not in ("slug",) for p in r.path_params)]


@pytest.mark.parametrize("value", [HUGE, "1" + "0" * 19, str(2**63), str(2**64 + 1)])
async def test_ids_beyond_bigint_are_404_on_every_route(gateway: Gateway, value: str) -> None:
    for route in ID_ROUTES:
        reply = await gateway.api.call(
            route.method, _path(route, value), json_body={} if route.request else None, token=gateway.admin
        )
        _assert_json_error(reply)
        assert reply.status in (400, 404), (route.method, route.path, reply)


PAGED_ROUTES = [r for r in ROUTES if r.paged]
FORGED_TOKENS = [
    paging.encode(2**63),
    paging.encode(-(2**63) - 1),
    paging.encode(10**40),
    paging.encode("1." + "9" * 30),
    paging.encode("9" * 30 + ".1"),
    paging.encode("newest.5.9999999999999999999999.1"),
    paging.encode("top.5.9999999999999999999999.1"),
    paging.encode("published." + "9" * 25 + ".1"),
    paging.encode("9" * 4000),
    paging.encode("9999-12-31T23:00:00-05:00|x"),
    "e30",  # {} without "after"
    "%%%",
]


async def test_forged_page_tokens_are_400_on_every_paged_route(gateway: Gateway) -> None:
    for route in PAGED_ROUTES:
        for token in FORGED_TOKENS:
            reply = await gateway.api.get(
                _path(route), token=gateway.admin, params={"page_token": token, "sort": "newest"}
            )
            _assert_json_error(reply)


async def test_big_numbers_in_bodies_and_queries_are_400(gateway: Gateway) -> None:
    product = {"name": "x", "price": 1, "stock": 1}
    for key in ("price", "stock"):
        for value in (10**30, -(10**30), HUGE):
            body = json.dumps({**product, key: value}) if value != HUGE else f'{{"name":"x","{key}":{HUGE}}}'
            reply = await gateway.api.call("POST", "/api/products/", data=body, token=gateway.admin)
            _assert_json_error(reply)
    for route in PAGED_ROUTES:
        for size in (str(10**30), HUGE, "-1"):
            reply = await gateway.api.get(_path(route), token=gateway.admin, params={"page_size": size})
            _assert_json_error(reply)


# --- times outside years 1-9999 ------------------------------------------------------------------

OUT_OF_RANGE_TIMES = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"]


async def test_times_pushed_out_of_the_calendar_are_400(gateway: Gateway) -> None:
    api, admin = gateway.api, gateway.admin
    for when in OUT_OF_RANGE_TIMES:
        _assert_json_error(await api.post("/api/posts/1/publish", {"publish_time": when}, token=admin))
        for field in ("start_time", "end_time"):
            banner = {"image_url": "https://x.test/b.png", "placement": "home", field: when}
            _assert_json_error(await api.post("/api/banners/", banner, token=admin))
            _assert_json_error(await api.put("/api/banners/1", {field: when}, token=admin))
        event = {"status": "in_transit", "occurred_at": when}
        _assert_json_error(await api.post("/api/admin/shipments/1/events", event, token=admin))


# --- headers -------------------------------------------------------------------------------------


def _request(method: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    if body:
        lines += [b"Content-Type: application/json", f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


NOT_UTF8 = b"\xff\xfe\xc3\x28" + MARKER.encode()
HEADERS_READ = [
    "Authorization",
    "Origin",
    "X-Request-Id",
    "Idempotency-Key",
    "X-Shop-Signature",
    "User-Agent",
    "Content-Type",
    "traceparent",
    "Access-Control-Request-Method",
]


def _assert_raw_json_error(status: int, headers: dict[str, str], body: bytes) -> None:
    assert 400 <= status < 500, (status, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), (headers, body[:200])
    error = json.loads(body)
    assert set(error) == {"error"}, error
    assert MARKER.encode() not in body, body[:200]


@pytest.mark.parametrize("header", HEADERS_READ)
async def test_header_bytes_that_are_not_utf8_are_400(gateway: Gateway, header: str) -> None:
    body = b'{"tracking_number":"1Z999AA10123456784","status":"in_transit"}'
    for method, path, sent in [
        ("GET", "/api/products/", b""),
        ("GET", "/api/auth/me/", b""),
        ("POST", "/api/orders/", b"{}"),
        ("POST", "/api/shipping/webhooks/ups", body),
        ("OPTIONS", "/api/products/", b""),
    ]:
        value = b"Bearer " + NOT_UTF8 if header == "Authorization" else NOT_UTF8
        headers = {header: value}
        if header != "Authorization" and method == "POST":
            headers["Authorization"] = f"Bearer {gateway.admin}".encode()
        _assert_raw_json_error(*await gateway.raw(_request(method, path, headers, sent)))


async def test_non_ascii_tokens_and_signatures_are_401(gateway: Gateway) -> None:
    body = b'{"tracking_number":"1Z999AA10123456784","status":"in_transit"}'
    for signature in ("é" * 64, "sha256=" + "ü" * 64, "\u00a0" * 64):
        reply = await gateway.api.call(
            "POST", "/api/shipping/webhooks/ups", data=body, headers={"X-Shop-Signature": signature}
        )
        _assert_json_error(reply)
        assert reply.status == 401, reply
    for token in ("é" * 40, "ey.é.x", "\u200b"):
        reply = await gateway.api.get("/api/auth/me/", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 401, reply


# --- what aiohttp itself cannot parse ------------------------------------------------------------


async def test_protocol_errors_answer_json_without_echoing(gateway: Gateway) -> None:
    marker = MARKER.encode()
    corpus = [
        b"GET /api/" + marker + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # request line too long
        b"GET /api/products/ HTTP/1.1\r\nHost: x\r\nX-Long: " + marker + b"b" * 9000 + b"\r\n\r\n",
        b"GET /api/\x00\xff" + marker + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # bad bytes in the URL
        b"GET /api/products/ HTTP/1.1\r\nHost: x\r\nBad Header" + marker + b": 1\r\n\r\n",
        b"POST /api/cart/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz" + marker + b"\r\n",
        b"POST /api/cart/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1" + marker + b"\r\n\r\n",
        b"GET /api/products/ HTTP/9.9" + marker + b"\r\nHost: x\r\n\r\n",
        b"".join(b"X-H%d: 1\r\n" % i for i in range(200)).join(
            [b"GET /api/products/ HTTP/1.1\r\nHost: x\r\n", b"\r\n"]
        ),
    ]
    for request in corpus:
        _assert_raw_json_error(*await gateway.raw(request))


async def test_a_client_hanging_up_mid_body_is_not_an_error(gateway: Gateway) -> None:
    """aiohttp cancels the request's task when its connection goes: counted as 499, logged at info."""
    auth = f"Bearer {gateway.admin}".encode()
    chunked = {"Authorization": auth, "Transfer-Encoding": b"chunked", "Content-Type": b"application/json"}
    for path in ("/api/cart/", "/api/shipping/webhooks/ups"):
        for head in (
            _request("POST", path, {"Authorization": auth, "Content-Length": b"100000"}),
            _request("POST", path, chunked) + b"100\r\n",
        ):
            await gateway.raw(head + b'{"product_id": 1', hang_up=True)
            # Ending only the sending side mid-body cuts the body short just the same.
            status, _, _ = await gateway.raw(head + b'{"product_id": 1', half_close=True)
            assert status in (0, 400), status
    await asyncio.sleep(0.5)  # the gateway notices the hang-ups and finishes the requests
    reply = await gateway.api.get("/api/health")
    assert reply.status == 200, reply
