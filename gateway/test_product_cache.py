"""The gateway's cache of public product answers (gateway/product_cache.py): a stock change made
through the API shows at once on every replica, one made elsewhere within the stated bound, and
a cached answer is the one the uncached path gives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, User, gateway_settings, new_product
from gateway.product_cache import Answer, AnswerCache
from services.kit import paging
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "reviews"):
        await platform.start(name)


@pytest.fixture
async def replica(platform: Platform) -> AsyncIterator[Api]:
    """A second gateway on the same Redis whose answers would stay a minute without a message."""
    app = create_app(gateway_settings(platform, product_cache_seconds=60.0))
    async with TestClient(TestServer(app)) as client:
        yield Api(client)


async def _product(api: Api, admin: User, stock: int) -> tuple[int, list[str]]:
    """A new product, and the public paths whose answers show its stock."""
    tag = "c" + uuid4().hex[:10]
    reply = await api.post(
        "/api/products/", {"name": f"Cached {tag}", "price": 3.5, "stock": stock}, token=admin.token
    )
    assert reply.status == 201, reply
    pid: int = reply.body["id"]
    return pid, [
        f"/api/products/{pid}",
        f"/api/catalog/products/{pid}",
        f"/api/products/?q={tag}",
        f"/api/catalog/products/?q={tag}",
    ]


def _stock(body: Any, pid: int) -> int:
    if "products" in body:  # the catalog's page
        (item,) = [p for p in body["products"] if p["id"] == pid]
        return int(item["stock"])
    if "stock" in body:  # one product
        return int(body["stock"])
    return int(body[str(pid)]["stock"])  # the documented page, keyed by id


async def _stocks(api: Api, paths: list[str], pid: int) -> list[int]:
    stocks = []
    for path in paths:
        reply = await api.get(path)
        assert reply.status == 200, reply
        stocks.append(_stock(reply.body, pid))
    return stocks


async def test_stock_set_to_zero_through_the_api_shows_out_of_stock_at_once(api: Api, admin: User) -> None:
    pid, paths = await _product(api, admin, stock=5)
    assert await _stocks(api, paths, pid) == [5, 5, 5, 5]  # now cached
    assert (await api.put(f"/api/products/{pid}", {"stock": 0}, token=admin.token)).status == 200
    assert await _stocks(api, paths, pid) == [0, 0, 0, 0]


async def test_a_change_through_one_replica_clears_the_others(api: Api, replica: Api, admin: User) -> None:
    pid, paths = await _product(api, admin, stock=4)
    assert await _stocks(replica, paths, pid) == [4, 4, 4, 4]
    assert (await api.put(f"/api/products/{pid}", {"stock": 0}, token=admin.token)).status == 200
    # The replica keeps answers for a minute: only the published change can clear them now.
    for _ in range(100):
        if await _stocks(replica, paths, pid) == [0, 0, 0, 0]:
            break
        await asyncio.sleep(0.05)
    assert await _stocks(replica, paths, pid) == [0, 0, 0, 0]


async def test_a_change_made_outside_the_api_shows_within_the_bound(
    api: Api, admin: User, platform: Platform
) -> None:
    pid, paths = await _product(api, admin, stock=2)
    assert await _stocks(api, paths, pid) == [2, 2, 2, 2]
    # As a checkout's commit or an expired hold would: straight to inventory, no gateway write.
    inventory = platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=0, reason="sold elsewhere"),
        metadata=(("authorization", f"Bearer {admin.token}"),),
    )
    bound = gateway_settings(platform).product_cache_seconds
    await asyncio.sleep(bound)
    assert await _stocks(api, paths, pid) == [0, 0, 0, 0]


async def test_cached_answers_are_the_uncached_ones(api: Api, admin: User, platform: Platform) -> None:
    pid = await new_product(api, admin, stock=7)
    app = create_app(gateway_settings(platform, product_cache_seconds=0.0))
    async with TestClient(TestServer(app)) as client:
        uncached = Api(client)
        token = paging.encode(pid - 1)
        for path in (f"/api/products/{pid}", f"/api/products/?page_size=1&page_token={token}"):
            first, again, fresh = await api.get(path), await api.get(path), await uncached.get(path)
            assert first.body == again.body == fresh.body, path
            assert (
                first.headers["Content-Type"]
                == fresh.headers["Content-Type"]
                == "application/json; charset=utf-8"
            )
            assert first.headers.get("X-Next-Page-Token") == fresh.headers.get("X-Next-Page-Token")


# --- the cache itself, on a clock of its own ------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _answer(n: int) -> Answer:
    return Answer(json.dumps({"n": n}).encode())


async def test_an_answer_expires_its_bound_after_its_reads_began() -> None:
    clock = Clock()
    cache = AnswerCache(1.0, clock=clock)

    async def slow_fetch() -> Answer:
        clock.now += 0.4  # the reads take a while
        return _answer(1)

    await cache.get("k", slow_fetch)
    clock.now += 0.59
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(2)))).body == _answer(1).body
    clock.now += 0.02  # 1.01 s after the first fetch began: never served again
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(3)))).body != _answer(1).body


async def test_an_answer_fetched_across_a_clear_is_not_kept() -> None:
    cache = AnswerCache(60.0)
    release = asyncio.Event()

    async def fetch_before_the_change() -> Answer:
        await release.wait()
        return _answer(1)

    waiting = asyncio.create_task(cache.get("k", fetch_before_the_change))
    await asyncio.sleep(0)
    cache.clear()  # the change lands while the old reads are under way
    release.set()
    assert (await waiting).body == _answer(1).body
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(2)))).body == _answer(2).body


async def test_concurrent_misses_share_one_fetch_and_errors_are_not_kept() -> None:
    cache = AnswerCache(60.0)
    calls = 0

    async def fetch() -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return _answer(calls)

    answers = await asyncio.gather(*(cache.get("k", fetch) for _ in range(10)))
    assert calls == 1
    assert {a.body for a in answers} == {_answer(1).body}

    async def failing() -> Answer:
        raise LookupError("upstream said no")

    with pytest.raises(LookupError):
        await cache.get("other", failing)
    assert (await cache.get("other", fetch)).body == _answer(2).body


async def test_a_busy_answer_is_refetched_before_it_expires_and_never_served_after() -> None:
    clock = Clock()
    cache = AnswerCache(1.0, clock=clock)
    await cache.get("k", lambda: asyncio.sleep(0, _answer(1)))
    clock.now += 0.6  # past half its life: served, and fetched again meanwhile
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(2)))).body == _answer(1).body
    await asyncio.sleep(0.01)
    clock.now += 0.5  # 1.1 s after the first fetch, 0.5 s after the second began
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(3)))).body == _answer(2).body
    clock.now += 0.6  # the second has expired too, and nothing refetched it meanwhile
    assert (await cache.get("k", lambda: asyncio.sleep(0, _answer(4)))).body == _answer(4).body
