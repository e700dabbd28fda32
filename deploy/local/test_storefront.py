"""The storefront server: pages from the build, /api and /provider proxied to real HTTP servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from deploy.local.storefront import create_app


async def _echo(request: web.Request) -> web.Response:
    response = web.json_response(
        {
            "host": request.host,
            "method": request.method,
            "path_qs": request.rel_url.path_qs,
            "auth": request.headers.get("Authorization"),
            "key": request.headers.get("Idempotency-Key"),
            "body": (await request.read()).decode(),
        },
        status=201 if request.method == "POST" else 200,
        headers={"X-Next-Page-Token": "abc"},
    )
    response.set_cookie("one", "1", httponly=True)
    response.set_cookie("two", "2", httponly=True)
    return response


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Shop</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    return tmp_path


@pytest.fixture
async def client(dist: Path, upstream: str) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(create_app(dist, upstream, upstream + "/tokenizer"))) as client:
        yield client


async def test_api_calls_keep_their_path_query_headers_and_body(
    client: TestClient[web.Request, web.Application],
) -> None:
    reply = await client.post(
        "/api/orders/?x=1", data='{"a": 1}', headers={"Authorization": "Bearer t", "Idempotency-Key": "k1"}
    )
    assert reply.status == 201
    assert reply.headers["X-Next-Page-Token"] == "abc"
    assert await reply.json() == {
        "host": f"{client.host}:{client.port}",
        "method": "POST",
        "path_qs": "/api/orders/?x=1",
        "auth": "Bearer t",
        "key": "k1",
        "body": '{"a": 1}',
    }


async def test_provider_calls_lose_the_prefix(client: TestClient[web.Request, web.Application]) -> None:
    reply = await client.post("/provider/v1/tokens", data="{}")
    assert (await reply.json())["path_qs"] == "/tokenizer/v1/tokens"


async def test_pages_fall_back_to_index_under_a_content_security_policy(
    client: TestClient[web.Request, web.Application],
) -> None:
    for path in ("/", "/products/3", "/checkout/review"):
        reply = await client.get(path)
        assert reply.status == 200
        assert "<title>Shop</title>" in await reply.text()
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
        assert reply.headers["Cache-Control"] == "no-cache"
    asset = await client.get("/assets/index-abc.js")
    assert asset.status == 200
    assert "immutable" in asset.headers["Cache-Control"]
    assert (await client.get("/assets/missing.js")).status == 404
    for sneaky in ("/assets/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd"):
        assert "root:" not in await (await client.get(sneaky)).text()


async def test_an_unreachable_upstream_is_a_502_json_error(dist: Path) -> None:
    app = create_app(dist, "http://127.0.0.1:9", "http://127.0.0.1:9")
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/api/health")
        assert reply.status == 502
        assert await reply.json() == {"error": "/api/ is unavailable"}


async def test_every_cookie_of_an_answer_reaches_the_browser(
    client: TestClient[web.Request, web.Application],
) -> None:
    reply = await client.post("/api/auth/session/", data="{}")
    cookies = reply.headers.getall("Set-Cookie")
    assert sorted(c.split(";")[0] for c in cookies) == ["one=1", "two=2"]


async def test_every_answer_is_nosniff_and_names_no_server_version(
    client: TestClient[web.Request, web.Application],
) -> None:
    answers = [
        await client.get("/"),
        await client.get("/assets/index-abc.js"),
        await client.get("/assets/missing.js"),  # 404
        await client.post("/products/3"),  # 405: only GET serves pages
        await client.get("/api/products/"),  # proxied: the upstream's aiohttp Server header is replaced
    ]
    for reply in answers:
        assert reply.headers["X-Content-Type-Options"] == "nosniff", (reply.status, reply.url)
        assert reply.headers["Server"] == "shop", (reply.status, reply.headers["Server"])
    assert [a.status for a in answers] == [200, 200, 404, 405, 200]
