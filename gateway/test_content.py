"""/api/posts and /api/banners over real HTTP, in front of a content service whose clock the tests move."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, User, assert_error, gateway_settings
from gateway.routes import content as content_routes
from gateway.routing import Route
from services.content.service import build_with_clock
from services.kit.server import start
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.ports import free_port

ADMIN_ROUTES = [r for r in content_routes.ROUTES if r.auth == "admin"]


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
async def web(platform: Platform, clock: FakeClock) -> AsyncIterator[Api]:
    """The gateway in front of its own content service, which reads the time from `clock`."""
    await platform.start("auth")
    running = await start(platform.settings("content", grpc_port=free_port()), build_with_clock(clock))
    settings = gateway_settings(platform, content_addr=f"127.0.0.1:{running.port}")
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            yield Api(client)
    finally:
        await running.stop(grace=0)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _tag() -> str:
    return uuid4().hex[:12]


async def _new_post(web: Api, admin: User, **fields: Any) -> dict[str, Any]:
    body = {"title": f"Post {uuid4().hex[:8]}", **fields}
    reply = await web.post("/api/posts/", body, token=admin.token)
    assert reply.status == 201, reply
    post: dict[str, Any] = reply.body
    return post


async def _public_ids(web: Api, tag: str) -> list[int]:
    reply = await web.get("/api/posts/", params={"tag": tag})
    assert reply.status == 200, reply
    return [p["id"] for p in reply.body]


# --- posts --------------------------------------------------------------------------------------


async def test_post_lifecycle(web: Api, admin: User, customer: User) -> None:
    tag = _tag()
    created = await web.post(
        "/api/posts",
        {"title": "Spring Collection", "body_markdown": "*New* in", "tags": [tag], "author_name": "Ann"},
        token=admin.token,
    )
    assert created.status == 201, created
    post = created.body
    assert post["slug"].startswith("spring-collection")
    assert (post["status"], post["publish_time"], post["author_name"]) == ("draft", None, "Ann")
    assert post["body_html"] == "<p><em>New</em> in</p>\n"
    assert post["tags"] == [tag]
    assert set(post) == {
        "id", "slug", "title", "body_markdown", "body_html", "author_name", "tags", "status",
        "publish_time", "create_time", "update_time",
    }  # fmt: skip

    by_slug = f"/api/posts/{post['slug']}"
    assert_error(await web.get(by_slug), 404)
    assert await _public_ids(web, tag) == []
    drafts = await web.get("/api/posts/", params={"tag": tag, "include_drafts": "true"}, token=admin.token)
    assert [p["id"] for p in drafts.body] == [post["id"]]

    published = await web.post(f"/api/posts/{post['id']}/publish", token=admin.token)
    assert published.status == 200, published
    assert published.body["status"] == "published"
    assert published.body["publish_time"].endswith("Z")
    for path in (by_slug, by_slug + "/"):
        got = await web.get(path)
        assert (got.status, got.body["id"], got.body["title"]) == (200, post["id"], "Spring Collection")
    assert await _public_ids(web, tag) == [post["id"]]

    unpublished = await web.post(f"/api/posts/{post['id']}/unpublish/", token=admin.token)
    assert unpublished.body["status"] == "draft"
    assert_error(await web.get(by_slug), 404)

    deleted = await web.delete(f"/api/posts/{post['id']}", token=admin.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Post deleted"})
    assert_error(await web.delete(f"/api/posts/{post['id']}", token=admin.token), 404)
    assert_error(await web.post(f"/api/posts/{post['id']}/publish", token=admin.token), 404)


async def test_a_scheduled_post_appears_when_its_time_comes(web: Api, admin: User, clock: FakeClock) -> None:
    tag = _tag()
    post = await _new_post(web, admin, tags=[tag])
    at = clock.now + timedelta(days=1)
    scheduled = await web.post(
        f"/api/posts/{post['id']}/publish", {"publish_time": _iso(at)}, token=admin.token
    )
    assert scheduled.status == 200, scheduled
    assert datetime.fromisoformat(scheduled.body["publish_time"]) == at
    assert await _public_ids(web, tag) == []
    assert_error(await web.get(f"/api/posts/{post['slug']}"), 404)

    clock.now = at - timedelta(seconds=1)
    assert await _public_ids(web, tag) == []
    clock.now = at
    assert await _public_ids(web, tag) == [post["id"]]
    assert (await web.get(f"/api/posts/{post['slug']}")).status == 200


async def test_posts_page_newest_first(web: Api, admin: User, clock: FakeClock) -> None:
    tag = _tag()
    ids = []
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        post = await _new_post(web, admin, tags=[tag])
        await web.post(f"/api/posts/{post['id']}/publish", token=admin.token)
        ids.append(post["id"])
    first = await web.get("/api/posts/", params={"tag": tag, "page_size": "2"})
    assert [p["id"] for p in first.body] == [ids[2], ids[1]]
    token = first.headers["X-Next-Page-Token"]
    second = await web.get("/api/posts/", params={"tag": tag, "page_size": "2", "page_token": token})
    assert [p["id"] for p in second.body] == [ids[0]]
    assert "X-Next-Page-Token" not in second.headers


async def test_drafts_are_for_admins_only(web: Api, customer: User) -> None:
    anonymous = await web.get("/api/posts/", params={"include_drafts": "true"})
    assert (anonymous.status, anonymous.body) == (401, {"error": "Authentication required"})
    denied = await web.get("/api/posts/", params={"include_drafts": "true"}, token=customer.token)
    assert (denied.status, denied.body) == (403, {"error": "Admin role required"})
    inactive = await web.get("/api/banners/", params={"include_inactive": "1"}, token=customer.token)
    assert (inactive.status, inactive.body) == (403, {"error": "Admin role required"})


async def test_slugs_are_stable_and_unique(web: Api, admin: User) -> None:
    title = f"Gift Guide {uuid4().hex[:6]}"
    first = await _new_post(web, admin, title=title)
    second = await _new_post(web, admin, title=title)
    assert second["slug"] == f"{first['slug']}-2"

    renamed = await web.put(f"/api/posts/{second['id']}", {"title": "Renamed"}, token=admin.token)
    assert (renamed.status, renamed.body["title"], renamed.body["slug"]) == (200, "Renamed", second["slug"])

    taken = await web.put(f"/api/posts/{second['id']}", {"slug": first["slug"]}, token=admin.token)
    assert_error(taken, 409, mentions="already in use")
    explicit = await web.post("/api/posts/", {"title": "x", "slug": first["slug"]}, token=admin.token)
    assert_error(explicit, 409)

    free = f"guide-{uuid4().hex[:6]}"
    moved = await web.put(f"/api/posts/{second['id']}/", {"slug": free}, token=admin.token)
    assert moved.body["slug"] == free
    await web.post(f"/api/posts/{second['id']}/publish", token=admin.token)
    assert (await web.get(f"/api/posts/{free}")).body["id"] == second["id"]
    assert_error(await web.get(f"/api/posts/{second['slug']}"), 404)


async def test_update_changes_only_given_fields(web: Api, admin: User) -> None:
    post = await _new_post(web, admin, body_markdown="old", tags=["a", "b"])
    body = await web.put(f"/api/posts/{post['id']}", {"body_markdown": "**new**"}, token=admin.token)
    assert body.body["body_html"] == "<p><strong>new</strong></p>\n"
    assert (body.body["title"], body.body["tags"]) == (post["title"], ["a", "b"])
    cleared = await web.put(f"/api/posts/{post['id']}", {"tags": []}, token=admin.token)
    assert cleared.body["tags"] == []
    assert_error(await web.put(f"/api/posts/{2**62}", {"title": "x"}, token=admin.token), 404)


async def test_markdown_is_rendered_safely(web: Api, admin: User) -> None:
    markdown = "\n\n".join(
        [
            "<script>alert(1)</script>",
            "[a](javascript:alert(1))",
            '<img src="x" onerror="alert(1)">',
            "[b](data:text/html;base64,PHNjcmlwdD4=)",
            "![c](data:image/png;base64,iVBORw0KGgo=)",
            "[ok](https://shop.example/)",
        ]
    )
    html = (await _new_post(web, admin, body_markdown=markdown))["body_html"]
    assert "<script" not in html
    assert '<img alt="c">' in html  # the data: image lost its source
    assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no event handler inside any real tag
    assert 'href="javascript' not in html
    assert 'href="data' not in html
    assert '<a href="https://shop.example/" rel="noopener nofollow">ok</a>' in html


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body_markdown": "no title"},
        {"title": ""},
        {"title": "   "},
        {"title": 5},
        {"title": "x" * 201},
        {"title": "x", "body_markdown": "x" * 100_001},
        {"title": "x", "tags": [f"t{i}" for i in range(21)]},
        {"title": "x", "tags": ["x" * 41]},
        {"title": "x", "tags": [""]},
        {"title": "x", "tags": "news"},
        {"title": "x", "tags": [1]},
        {"title": "x", "slug": "Not A Slug"},
        {"title": "x", "slug": "x" * 101},
        {"title": "x", "author_name": None},
    ],
)
async def test_bad_posts_are_400(web: Api, admin: User, body: dict[str, Any]) -> None:
    assert_error(await web.post("/api/posts/", body, token=admin.token), 400)


async def test_bad_changes_are_400(web: Api, admin: User) -> None:
    post = await _new_post(web, admin)
    path = f"/api/posts/{post['id']}"
    for change in ({}, {"title": None}, {"title": ""}, {"slug": "UPPER"}, {"tags": ["x"] * 21}):
        assert_error(await web.put(path, change, token=admin.token), 400)
    publish = f"/api/posts/{post['id']}/publish"
    for when in ("tomorrow", "2030-01-01T00:00:00", 1893456000, True, "10000-01-01T00:00:00Z"):
        assert_error(await web.post(publish, {"publish_time": when}, token=admin.token), 400)
    assert_error(await web.post(publish, data="[]", token=admin.token), 400)
    assert (await web.get(f"/api/posts/{post['slug']}")).status == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/posts/", {"page_size": "0"}),
        ("/api/posts/", {"page_size": "x"}),
        ("/api/posts/", {"include_drafts": "maybe"}),
        ("/api/posts/", {"page_token": "%%%"}),
        ("/api/banners/", {"page_size": "101"}),
        ("/api/banners/", {"placement": "Home Hero"}),
    ],
)
async def test_bad_queries_are_400(web: Api, path: str, params: dict[str, str]) -> None:
    assert_error(await web.get(path, params=params), 400)


@pytest.mark.parametrize("path", ["/api/posts/Upper-Case", "/api/posts/a--b", "/api/posts/-x"])
async def test_malformed_slugs_are_plain_404(web: Api, path: str) -> None:
    assert (await web.get(path)).status == 404


# --- banners ------------------------------------------------------------------------------------


def _banner(placement: str, **fields: Any) -> dict[str, Any]:
    return {
        "image_url": "https://img.example/hero.png",
        "link_url": "/sale",
        "placement": placement,
        **fields,
    }


async def _live_ids(web: Api, placement: str) -> list[int]:
    reply = await web.get("/api/banners/", params={"placement": placement})
    assert reply.status == 200, reply
    return [b["id"] for b in reply.body]


async def test_banner_lifecycle_and_window(web: Api, admin: User, customer: User, clock: FakeClock) -> None:
    placement = f"p_{uuid4().hex[:10]}"
    start_at, end_at = clock.now + timedelta(hours=1), clock.now + timedelta(hours=2)
    created = await web.post(
        "/api/banners/",
        _banner(placement, title="Sale", start_time=_iso(start_at), end_time=_iso(end_at), priority=3),
        token=admin.token,
    )
    assert created.status == 201, created
    banner = created.body
    assert (banner["active"], banner["priority"], banner["title"]) == (True, 3, "Sale")
    assert datetime.fromisoformat(banner["start_time"]) == start_at

    assert await _live_ids(web, placement) == []
    clock.now = start_at
    assert await _live_ids(web, placement) == [banner["id"]]
    clock.now = end_at
    assert await _live_ids(web, placement) == []
    every = await web.get(
        "/api/banners/", params={"placement": placement, "include_inactive": "true"}, token=admin.token
    )
    assert [b["id"] for b in every.body] == [banner["id"]]

    path = f"/api/banners/{banner['id']}"
    assert (await web.get(path, token=admin.token)).body == banner
    assert_error(await web.get(path, token=customer.token), 403)
    assert_error(await web.get(path), 401)

    later = _iso(end_at + timedelta(days=1))
    moved = await web.put(path, {"end_time": later, "active": False}, token=admin.token)
    assert moved.status == 200, moved
    assert (moved.body["end_time"], moved.body["active"]) == (later, False)
    assert await _live_ids(web, placement) == []
    on = await web.put(path + "/", {"active": True}, token=admin.token)
    assert on.body["active"] is True
    assert await _live_ids(web, placement) == [banner["id"]]

    deleted = await web.delete(path, token=admin.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Banner deleted"})
    assert_error(await web.get(path, token=admin.token), 404)


async def test_banners_are_ordered_by_priority_then_newest(web: Api, admin: User, clock: FakeClock) -> None:
    placement = f"p_{uuid4().hex[:10]}"
    ids = {}
    for name, priority in (("low", 0), ("high-old", 9), ("high-new", 9)):
        clock.advance(timedelta(seconds=1))
        reply = await web.post("/api/banners/", _banner(placement, priority=priority), token=admin.token)
        ids[name] = reply.body["id"]
    assert await _live_ids(web, placement) == [ids["high-new"], ids["high-old"], ids["low"]]
    page = await web.get("/api/banners/", params={"placement": placement, "page_size": "1"})
    assert [b["id"] for b in page.body] == [ids["high-new"]]
    assert page.headers["X-Next-Page-Token"]


@pytest.mark.parametrize(
    "fields",
    [
        {"image_url": "javascript:alert(1)"},
        {"image_url": "data:image/png;base64,iVBORw0KGgo="},
        {"image_url": "ftp://img.example/x.png"},
        {"image_url": "img.png"},
        {"image_url": ""},
        {"link_url": "javascript:alert(1)"},
        {"link_url": "data:text/html,hi"},
        {"link_url": "//evil.example/"},
        {"placement": ""},
        {"placement": "Home Hero"},
        {"priority": "1"},
        {"priority": 1.5},
        {"priority": True},
        {"priority": 2**31},
        {"active": "yes"},
        {"start_time": "2030-01-01T00:00:00"},
        {"start_time": "2030-01-02T00:00:00Z", "end_time": "2030-01-01T00:00:00Z"},
    ],
)
async def test_bad_banners_are_400(web: Api, admin: User, fields: dict[str, Any]) -> None:
    assert_error(await web.post("/api/banners/", {**_banner("home_hero"), **fields}, token=admin.token), 400)


async def test_banner_changes_keep_the_window_valid(web: Api, admin: User, clock: FakeClock) -> None:
    created = await web.post(
        "/api/banners/",
        _banner("home_hero", end_time=_iso(clock.now + timedelta(hours=1))),
        token=admin.token,
    )
    path = f"/api/banners/{created.body['id']}"
    past_end = {"start_time": _iso(clock.now + timedelta(hours=2))}
    for change in (past_end, {"end_time": None}, {"image_url": "javascript:x"}, {}, {"priority": "2"}):
        assert_error(await web.put(path, change, token=admin.token), 400)
    assert_error(await web.put(f"/api/banners/{2**62}", {"title": "x"}, token=admin.token), 404)


# --- access ---------------------------------------------------------------------------------------


def _url(route: Route) -> str:
    return re.sub(r"\{\w+\}", "1", route.full_path)


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_admin_routes_are_401_anonymous_and_403_for_customers(
    web: Api, customer: User, route: Route
) -> None:
    anonymous = await web.call(route.method, _url(route), {"title": "x"})
    assert (anonymous.status, anonymous.body) == (401, {"error": "Authentication required"})
    denied = await web.call(route.method, _url(route), {"title": "x"}, token=customer.token)
    assert (denied.status, denied.body) == (403, {"error": "Admin role required"})


async def test_openapi_documents_one_post_path_for_id_or_slug(web: Api) -> None:
    doc = (await web.get("/api/openapi.json")).body
    # OpenAPI treats /posts/{slug} and /posts/{id} as the same path: there must be one.
    assert [path for path in doc["paths"] if path.startswith("/api/posts/{")] == [
        "/api/posts/{ref}",
        "/api/posts/{ref}/publish",
        "/api/posts/{ref}/unpublish",
    ]
    for method in ("get", "put", "delete"):
        param = doc["paths"]["/api/posts/{ref}"][method]["parameters"][0]
        assert (param["name"], param["in"], param["schema"]["type"]) == ("ref", "path", "string")
    assert doc["paths"]["/api/posts/"]["post"]["responses"]["201"]


async def test_a_post_is_reached_by_its_id_or_its_slug(web: Api, admin: User, customer: User) -> None:
    post = await _new_post(web, admin)
    by_id, by_slug = f"/api/posts/{post['id']}", f"/api/posts/{post['slug']}"
    # A draft: admins preview it either way, nobody else sees it.
    for path in (by_id, by_slug):
        preview = await web.get(path, params={"preview": "true"}, token=admin.token)
        assert (preview.status, preview.body["id"]) == (200, post["id"])
        assert_error(await web.get(path), 404)
        assert_error(await web.get(path, token=admin.token), 404)
        assert_error(await web.get(path, params={"preview": "true"}, token=customer.token), 403)
        assert_error(await web.get(path, params={"preview": "true"}), 401)
    renamed = f"renamed-{uuid4().hex[:8]}"
    changed = await web.put(by_slug, {"slug": renamed}, token=admin.token)
    assert (changed.status, changed.body["slug"]) == (200, renamed)
    assert (await web.post(f"/api/posts/{renamed}/publish", token=admin.token)).status == 200
    for path in (by_id, f"/api/posts/{renamed}"):
        got = await web.get(path)
        assert (got.status, got.body["id"]) == (200, post["id"])
    assert_error(await web.get(by_slug), 404)  # the old slug names nothing now
    assert_error(await web.delete(f"/api/posts/no-such-{uuid4().hex[:8]}", token=admin.token), 404)
    assert (await web.delete(f"/api/posts/{renamed}", token=admin.token)).status == 200
    assert_error(await web.get(by_id), 404)
