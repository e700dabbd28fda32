"""Activity through the gateway: shopping is recorded on the Redis stream and shows up in recently
viewed, popular and recommendations; the activity service being down costs the shopper nothing,
and what happened meanwhile is there once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, Reply, User, assert_error, gateway_settings, new_product
from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from tests.support.harness import Platform
from tests.support.polling import eventually


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "cart", "payments", "orders", "reviews", "activity"):
        await platform.start(name)


async def recently_viewed(api: Api, user: User) -> list[int]:
    reply = await api.get("/api/me/recently-viewed/", token=user.token)
    assert reply.status == 200, reply
    return [p["product_id"] for p in reply.body]


async def related(api: Api, product_id: int, kind: str) -> Reply:
    return await api.get(f"/api/products/{product_id}/recommendations/", params={"kind": kind})


async def popular(api: Api, params: dict[str, str]) -> dict[int, int]:
    """Every page of /api/products/popular/: count by product."""
    counts: dict[int, int] = {}
    token = ""
    while True:
        reply = await api.get(
            "/api/products/popular/", params={**params, "page_size": "100", "page_token": token}
        )
        assert reply.status == 200, reply
        counts.update({p["product_id"]: p["count"] for p in reply.body})
        token = reply.headers.get("X-Next-Page-Token", "")
        if not token:
            return counts


async def buy(api: Api, user: User, *product_ids: int) -> None:
    for product_id in product_ids:
        added = await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
        assert added.status == 201, added
    ordered = await api.post("/api/orders/", token=user.token)
    assert ordered.status == 201, ordered


async def test_browsing_shows_in_recently_viewed_popular_and_recommendations(
    api: Api, admin: User, user: User, other_user: User
) -> None:
    a, b, c = [await new_product(api, admin) for _ in range(3)]
    for product_id in (a, b, a):
        assert (await api.get(f"/api/products/{product_id}", token=user.token)).status == 200
    for product_id in (a, c):
        assert (await api.get(f"/api/products/{product_id}/", token=other_user.token)).status == 200
    assert (await api.get("/api/products/", params={"q": "thing"}, token=user.token)).status == 200

    async def viewed() -> bool:
        return await recently_viewed(api, user) == [a, b] and await recently_viewed(api, other_user) == [c, a]

    await eventually(viewed)

    counts = await popular(api, {"days": "1"})
    assert counts.get(a) == 3
    assert counts.get(b) == 1
    also = await related(api, a, "also_viewed")
    assert also.status == 200, also
    assert [p["product_id"] for p in also.body] in ([b, c], [c, b])
    assert all(p["score"] == 1.0 for p in also.body)
    assert_error(await api.get("/api/me/recently-viewed/"), 401)
    assert_error(await api.get("/api/products/popular/", params={"days": "0"}), 400, mentions="days")
    assert_error(await related(api, a, "sideways"), 400, mentions="kind")


async def test_orders_and_reviews_are_recorded(api: Api, admin: User, user: User, other_user: User) -> None:
    a, b, c = [await new_product(api, admin) for _ in range(3)]
    await buy(api, user, a, b)
    await buy(api, other_user, a, c)
    reviewed = await api.post(f"/api/products/{a}/reviews/", {"rating": 5}, token=user.token)
    assert reviewed.status == 201, reviewed

    async def bought() -> bool:
        reply = await related(api, a, "also_bought")
        return {p["product_id"] for p in reply.body} == {b, c}

    await eventually(bought)
    ordered = await popular(api, {"type": "ordered"})
    assert (ordered.get(a), ordered.get(b), ordered.get(c)) == (2, 1, 1)


async def test_shopping_works_while_activity_is_down_and_nothing_is_lost(
    api: Api, admin: User, user: User, other_user: User, platform: Platform
) -> None:
    a, b, c = [await new_product(api, admin) for _ in range(3)]
    await platform.stop("activity")
    try:
        for product_id in (a, b, c):
            reply = await api.get(f"/api/products/{product_id}", token=user.token)
            assert reply.status == 200, reply
        for product_id in (a, b):
            reply = await api.get(f"/api/products/{product_id}", token=other_user.token)
            assert reply.status == 200, reply
        await buy(api, user, a, c)
        await buy(api, other_user, a, b)
        # Only what reads from the activity service itself is unavailable.
        assert_error(await api.get("/api/me/recently-viewed/", token=user.token), 503)
    finally:
        await platform.start("activity")

    async def all_there() -> bool:
        reply = await api.get("/api/me/recently-viewed/", token=user.token)
        # The gateway's channel may still be reconnecting to the restarted service.
        if reply.status != 200 or [p["product_id"] for p in reply.body] != [c, b, a]:
            return False
        # The orders were recorded last.
        bought = await related(api, a, "also_bought")
        return {p["product_id"] for p in bought.body} == {b, c}

    await eventually(all_there)
    assert await recently_viewed(api, other_user) == [b, a]
    viewed = await related(api, a, "also_viewed")
    assert [(p["product_id"], p["score"]) for p in viewed.body][:1] == [(b, 2.0)]


@pytest.fixture
async def own_stream(platform: Platform) -> AsyncIterator[tuple[str, Any]]:
    """A Redis prefix no other test uses, and a client to look at its stream."""
    prefix = f"shop-test-{uuid4().hex[:8]}:"
    client = kit_redis.connect(platform.redis_url)
    yield prefix, client
    await client.delete(stream.stream_key(prefix))
    await client.aclose()


async def test_recording_can_be_turned_off(
    platform: Platform, admin: User, api: Api, own_stream: tuple[str, Any]
) -> None:
    prefix, redis = own_stream
    product_id = await new_product(api, admin)
    for recording in (False, True):
        settings = gateway_settings(platform, redis_prefix=prefix, activity_recording=recording)
        async with TestClient(TestServer(create_app(settings))) as client:
            own = Api(client)
            assert (await own.get(f"/api/products/{product_id}")).status == 200
        # Leaving the app flushes its queue.
        assert await redis.xlen(stream.stream_key(prefix)) == (1 if recording else 0)
    entries = await redis.xrange(stream.stream_key(prefix))
    event = stream.decode(entries[0][1])
    assert (event.type, event.product_id, event.user_id) == (
        stream.TYPES_BY_NAME["product_viewed"],
        product_id,
        0,
    )


async def test_cart_events_name_the_product(
    platform: Platform, admin: User, api: Api, own_stream: tuple[str, Any]
) -> None:
    prefix, redis = own_stream
    product_id = await new_product(api, admin)
    async with TestClient(TestServer(create_app(gateway_settings(platform, redis_prefix=prefix)))) as client:
        own = Api(client)
        shopper = await own.register()
        added = await own.post("/api/cart/", {"product_id": product_id, "quantity": 2}, token=shopper.token)
        assert added.status == 201, added
        item_id = added.body["item_id"]
        assert (await own.delete(f"/api/cart/{item_id}", token=shopper.token)).status == 200
    entries = await redis.xrange(stream.stream_key(prefix))
    events = [stream.decode(fields) for _, fields in entries]
    cart_events = [(e.type, e.product_id) for e in events if e.user_id == shopper.user_id]
    assert cart_events == [
        (stream.TYPES_BY_NAME["cart_added"], product_id),
        (stream.TYPES_BY_NAME["cart_removed"], product_id),
    ]


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A "Redis" that accepts connections and never answers: every command hangs until timeout."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    server.close()


@pytest.mark.parametrize("down", ["refused", "silent"])
async def test_a_down_or_hanging_redis_never_fails_or_slows_a_request(
    platform: Platform, admin: User, api: Api, silent_redis: str, down: str
) -> None:
    product_id = await new_product(api, admin)
    url = silent_redis if down == "silent" else "redis://127.0.0.1:1/0"
    settings = gateway_settings(platform, redis_url=url)
    async with TestClient(TestServer(create_app(settings))) as client:
        own = Api(client)
        started = time.monotonic()
        for _ in range(20):
            assert (await own.get(f"/api/products/{product_id}")).status == 200
        # One request waiting on that Redis would take a whole socket timeout (5 s).
        assert time.monotonic() - started < 5.0
