"""A listing's counts (total, facets) come from the catalog's in-memory listing index: a change
through the replica that serves the listing shows at once, a change through another replica
within `SHOP_COUNT_CACHE_SECONDS`, and the page itself is always read from the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from services.catalog.domain import Status
from services.catalog.search import for_database
from services.catalog.store import CatalogStore, NewProduct
from services.kit.database import Database
from shop.catalog.v1 import catalog_pb2
from tests.support.harness import Platform

from .conftest import Stub, category, product, restarted, usd, word

Admin = tuple[tuple[str, str], ...]
BOUND = 1.0


async def _listing(catalog: Stub, tag: str) -> tuple[list[int], int, int]:
    reply = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=tag, include_facets=True))
    return sorted(p.id for p in reply.products), reply.total_size, reply.facets.out_of_stock


async def test_a_change_through_this_replica_shows_in_the_counts_at_once(catalog: Stub, admin: Admin) -> None:
    tag = word()
    first = await product(catalog, admin, f"Lamp {tag}")
    assert await _listing(catalog, tag) == ([first.id], 1, 1)
    assert await _listing(catalog, tag) == ([first.id], 1, 1)

    second = await product(catalog, admin, f"Lamp {tag}")
    assert await _listing(catalog, tag) == ([first.id, second.id], 2, 2)

    await catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=first.id), metadata=admin)
    assert await _listing(catalog, tag) == ([second.id], 1, 1)


async def test_edits_signals_and_tree_changes_through_this_replica_show_in_the_facets_at_once(
    catalog: Stub, admin: Admin
) -> None:
    tag = word()
    shelf = await category(catalog, admin)
    lamp = await product(catalog, admin, f"Lamp {tag}", cents=1500)

    async def facets() -> tuple[int, int, dict[int, int], list[int]]:
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, include_facets=True, min_rating=4)
        )
        f = reply.facets
        return (
            reply.total_size,
            f.in_stock,
            {c.category_id: c.count for c in f.categories},
            [b.count for b in f.price_bands],
        )

    assert await facets() == (0, 0, {}, [0] * 7)  # no rating yet
    await catalog.SetProductSignals(
        catalog_pb2.SetProductSignalsRequest(product_id=lamp.id, rating_average=4.5, in_stock=True),
        metadata=admin,
    )
    assert await facets() == (1, 1, {}, [0, 1, 0, 0, 0, 0, 0])
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            id=lamp.id, price=usd(30_000), category_ids=[shelf], set_categories=True
        ),
        metadata=admin,
    )
    assert await facets() == (1, 1, {shelf: 1}, [0, 0, 0, 0, 0, 1, 0])

    # The tree: a move counts the product under its new ancestor, a deletion takes it out.
    room = await category(catalog, admin)
    await catalog.UpdateCategory(catalog_pb2.UpdateCategoryRequest(id=shelf, parent_id=room), metadata=admin)
    assert (await facets())[2] == {shelf: 1, room: 1}
    await catalog.DeleteCategory(catalog_pb2.DeleteCategoryRequest(id=shelf), metadata=admin)
    assert (await facets())[2] == {}


@pytest.fixture
async def bounded_catalog(platform: Platform) -> AsyncIterator[Stub]:
    async with restarted(platform, count_cache_seconds=BOUND) as catalog:
        yield catalog


async def test_a_change_through_another_replica_shows_in_the_counts_within_the_bound(
    platform: Platform, bounded_catalog: Stub, admin: Admin
) -> None:
    tag = word()
    first = await product(bounded_catalog, admin, f"Lamp {tag}")
    assert await _listing(bounded_catalog, tag) == ([first.id], 1, 1)

    # Another replica: its own store and connections on the same database.
    db = Database(platform.settings("catalog").resolved_database_url())
    try:
        other = CatalogStore(db, for_database(db))
        second = await other.create(
            NewProduct(
                name=f"Lamp {tag}",
                description="",
                price_minor=1000,
                currency="USD",
                weight_grams=0,
                slug=f"other-replica-{tag}",
                sku=None,
                status=Status.ACTIVE,
                category_ids=[],
            )
        )
        written = time.monotonic()
    finally:
        await db.close()

    # The page is read fresh at once; the counts follow within the bound.
    ids, total, _ = await _listing(bounded_catalog, tag)
    assert ids == [first.id, second.row.id]
    while total != 2:
        assert time.monotonic() - written <= BOUND + 0.5, "the counts stayed stale past their bound"
        await asyncio.sleep(0.05)
        _, total, _ = await _listing(bounded_catalog, tag)
    assert await _listing(bounded_catalog, tag) == ([first.id, second.row.id], 2, 2)
