"""The listing signals follow the services that own them: a stock change reaches the catalog's
in-stock filter and facet after one pass of the signals sync (real inventory, real catalog DB)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.catalog import signals
from services.catalog.signals import SignalsSync, Sources
from services.kit.clients import Metadata
from services.kit.database import Database
from shop.activity.v1 import activity_pb2_grpc
from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.reviews.v1 import reviews_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.tokens import TokenFactory, bearer

from .conftest import Stub, product, restarted, word

Admin = tuple[tuple[str, str], ...]


@pytest.fixture
async def counting_catalog(platform: Platform) -> AsyncIterator[Stub]:
    # The pass below runs as another replica would, and its facet counts are to be read at once.
    async with restarted(platform, count_cache_seconds=0) as catalog:
        yield catalog


async def test_stock_changes_reach_the_in_stock_filter_after_one_pass(
    platform: Platform, counting_catalog: Stub, admin: Admin, tokens: TokenFactory
) -> None:
    catalog = counting_catalog
    for name in ("inventory", "reviews", "activity"):
        await platform.start(name)
    inventory = platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")
    db = Database(platform.settings("catalog").resolved_database_url())
    sync = SignalsSync(db, _sources(platform, tokens), interval=3600)
    tag = word()
    stocked, empty = (
        await product(catalog, admin, f"Stocked {tag}"),
        await product(catalog, admin, f"Empty {tag}"),
    )

    async def in_stock() -> tuple[list[int], int]:
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, in_stock_only=True, include_facets=True)
        )
        return [p.id for p in reply.products], reply.facets.in_stock

    try:
        await inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=stocked.id, on_hand=3), metadata=admin
        )
        assert await in_stock() == ([], 0)  # not before the pass
        assert await sync.sync_once() >= 1
        assert await in_stock() == ([stocked.id], 1)
        got = await catalog.GetProduct(catalog_pb2.GetProductRequest(id=stocked.id))
        assert (got.product.in_stock, got.product.rating_count) == (True, 0)

        await inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=stocked.id, on_hand=0), metadata=admin
        )
        await sync.sync_once()
        assert await in_stock() == ([], 0)
        # A pass with nothing new changes nothing.
        assert await sync.sync_once() == 0
        assert empty.id not in (await in_stock())[0]

        # While inventory is down the signal stays as it was.
        await inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=stocked.id, on_hand=5), metadata=admin
        )
        await platform.stop("inventory")
        await sync.sync_once()
        assert await in_stock() == ([], 0)
        await platform.start("inventory")
        await sync.sync_once()
        assert await in_stock() == ([stocked.id], 1)
    finally:
        await platform.start("inventory")
        await db.close()


async def test_the_running_sync_spreads_each_pass_over_its_interval_and_keeps_its_bound(
    platform: Platform,
    counting_catalog: Stub,
    admin: Admin,
    tokens: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 100,000 products a pass is seconds of CPU in three services: run as one burst it stalled
    every read that met it. Here a pass is five batches whose stock reads must be spread over the
    interval, and a stock change still reaches the filter within two intervals."""
    catalog = counting_catalog
    for name in ("inventory", "reviews", "activity"):
        await platform.start(name)
    inventory = platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")
    tag = word()
    products = [await product(catalog, admin, f"Paced {tag} {i}") for i in range(3)]
    sources = _sources(platform, tokens)
    reads: list[float] = []
    real_stock = sources.inventory.BatchGetStock

    async def timed_stock(request: inventory_pb2.BatchGetStockRequest, **kwargs: Any) -> Any:
        reads.append(time.monotonic())
        return await real_stock(request, **kwargs)

    sources = replace(
        sources,
        inventory=cast(
            "inventory_pb2_grpc.InventoryServiceAsyncStub", SimpleNamespace(BatchGetStock=timed_stock)
        ),
    )
    interval = 1.0
    db = Database(platform.settings("catalog").resolved_database_url())
    # Five batches, whatever else the suite has put in the catalog (this one's product is in the last).
    (count,) = (await db.fetch(signals._LIVE_COUNT))[0]
    batches = 5
    batch = math.ceil(count / batches)
    running = asyncio.create_task(SignalsSync(db, sources, interval=interval, batch=batch).run())
    try:
        await inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=products[-1].id, on_hand=2), metadata=admin
        )

        async def in_stock() -> list[int]:
            reply = await catalog.SearchProducts(
                catalog_pb2.SearchProductsRequest(query=tag, in_stock_only=True)
            )
            return [p.id for p in reply.products]

        # Two intervals: the first pass starts one interval after start-up and lasts about one.
        assert await eventually(in_stock, within=2 * interval + 0.75) == [products[-1].id]
        # The first pass's five stock reads span most of the interval.
        per_pass = math.ceil(count / batch)
        await eventually(lambda: _value(len(reads) >= per_pass), within=2 * interval + 1)
        assert reads[per_pass - 1] - reads[0] >= 0.7 * interval * (per_pass - 1) / per_pass
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await db.close()


async def _value(value: bool) -> bool:
    return value


def _sources(platform: Platform, tokens: TokenFactory) -> Sources:
    service = bearer(tokens.service("catalog"))

    async def metadata() -> Metadata:
        return cast(Metadata, service)

    return Sources(
        inventory=cast(
            "inventory_pb2_grpc.InventoryServiceAsyncStub",
            platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory"),
        ),
        reviews=cast(
            "reviews_pb2_grpc.ReviewsServiceAsyncStub",
            platform.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews"),
        ),
        activity=cast(
            "activity_pb2_grpc.ActivityServiceAsyncStub",
            platform.stub(activity_pb2_grpc.ActivityServiceStub, "activity"),
        ),
        metadata=metadata,
    )
