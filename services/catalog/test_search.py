"""Search through real gRPC on the configured storage (FTS5 on SQLite, tsvector + pg_trgm on
PostgreSQL): ranking, prefixes, typos, sorts, keyset pages, filters agreeing with facets, and
the index following every change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from shop.catalog.v1 import catalog_pb2

from .conftest import Stub, category, product, word

Admin = tuple[tuple[str, str], ...]


async def _ids(catalog: Stub, **kwargs: Any) -> list[int]:
    reply = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(**kwargs))
    return [p.id for p in reply.products]


async def test_name_outranks_description_and_more_matches_rank_higher(catalog: Stub, admin: Admin) -> None:
    tag = word()
    for filler in ("Rug", "Sofa", "Stool", "Table", "Shelf", "Mirror"):  # most products lack the word
        await product(catalog, admin, f"{filler} {tag}")
    in_description = await product(catalog, admin, f"Shade {tag}", description="goes with any lantern")
    in_name = await product(catalog, admin, f"Lantern {tag}", description="a light")
    # The same name and as many words (bm25 normalises by length), the word in the description too.
    twice = await product(catalog, admin, f"Lantern {tag}", description="a lantern")
    ranked = await _ids(catalog, query=f"lantern {tag}")
    assert ranked[0] == twice.id
    assert ranked.index(in_name.id) < ranked.index(in_description.id)


async def test_prefixes_and_typos_find_products(catalog: Stub, admin: Admin) -> None:
    tag = word()
    lamp = await product(catalog, admin, f"Desk lamp {tag}", description="brass")
    umbrella = await product(catalog, admin, f"Umbrella {tag}")
    assert await _ids(catalog, query=f"{tag} desk lam") == [lamp.id]  # every word as a prefix
    assert sorted(await _ids(catalog, query=tag[:8])) == [lamp.id, umbrella.id]
    for typo in ("umbrela", "umbrelal", "unbrella", "umbrlla"):
        reply = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=f"{typo} {tag}"))
        assert [p.id for p in reply.products] == [umbrella.id], typo
        assert reply.corrected_query == f"umbrella {tag}"
    # A swap in a short word ("lmap") is one edit too.
    assert await _ids(catalog, query=f"lmap {tag}") == [lamp.id]
    # Too far off is no match, not a wild guess.
    assert await _ids(catalog, query=f"xylophone {tag}") == []
    assert await _ids(catalog, query=f"umbxxxla {tag}") == []


async def test_the_index_follows_creates_edits_status_and_deletes(catalog: Stub, admin: Admin) -> None:
    old, new = word(), word()
    item = await product(catalog, admin, f"Kettle {old}")
    assert await _ids(catalog, query=old) == [item.id]
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=item.id, name=f"Kettle {new}"), metadata=admin
    )
    assert await _ids(catalog, query=old) == []
    assert await _ids(catalog, query=new) == [item.id]
    # The vocabulary follows too: the old word no longer corrects to anything.
    reply = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=old[:-1] + "q"))
    assert reply.corrected_query != old
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=item.id, description=f"whistling {old}"), metadata=admin
    )
    assert await _ids(catalog, query=old) == [item.id]
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=item.id, status=catalog_pb2.PRODUCT_STATUS_DRAFT), metadata=admin
    )
    assert await _ids(catalog, query=new) == []
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=item.id, status=catalog_pb2.PRODUCT_STATUS_ACTIVE), metadata=admin
    )
    assert await _ids(catalog, query=new) == [item.id]
    await catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=item.id), metadata=admin)
    assert await _ids(catalog, query=new) == []
    assert await _ids(catalog, query=new[:-1] + "q") == []


async def _walk(catalog: Stub, **kwargs: Any) -> list[int]:
    seen: list[int] = []
    token = ""
    while True:
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(page_size=2, page_token=token, **kwargs)
        )
        assert len(reply.products) <= 2
        seen += [p.id for p in reply.products]
        token = reply.next_page_token
        if not token:
            return seen


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (catalog_pb2.SEARCH_SORT_PRICE_ASC, lambda p: (p["price"], p["id"])),
        (catalog_pb2.SEARCH_SORT_PRICE_DESC, lambda p: (-p["price"], p["id"])),
        (catalog_pb2.SEARCH_SORT_NAME, lambda p: (p["name"], p["id"])),
        (catalog_pb2.SEARCH_SORT_NEWEST, lambda p: -p["id"]),
        (catalog_pb2.SEARCH_SORT_RATING, lambda p: (-p["rating"], p["id"])),
        (catalog_pb2.SEARCH_SORT_POPULARITY, lambda p: (-p["popularity"], p["id"])),
    ],
)
async def test_every_sort_pages_through_every_match_once(
    catalog: Stub, admin: Admin, sort: int, key: Callable[[dict[str, Any]], Any]
) -> None:
    tag = word()
    made: list[dict[str, Any]] = []
    for i, (name, cents, rating, popularity) in enumerate(
        [
            ("Cedar", 500, 4.5, 3),
            ("Ash", 900, 3.0, 9),
            ("Birch", 500, 4.5, 1),
            ("Alder", 100, 5.0, 3),
            ("Dogwood", 900, 1.0, 0),
        ]
    ):
        item = await product(catalog, admin, f"{name} {tag}", cents=cents)
        await catalog.SetProductSignals(
            catalog_pb2.SetProductSignalsRequest(
                product_id=item.id, rating_average=rating, popularity=popularity, in_stock=i % 2 == 0
            ),
            metadata=admin,
        )
        made.append(
            {
                "id": item.id,
                "name": f"{name} {tag}",
                "price": cents,
                "rating": rating,
                "popularity": popularity,
            }
        )
    expected = [p["id"] for p in sorted(made, key=key)]
    assert await _walk(catalog, query=tag, sort=sort) == expected


async def test_relevance_pages_are_stable(catalog: Stub, admin: Admin) -> None:
    tag = word()
    for i in range(5):
        await product(catalog, admin, f"Bowl {tag}" + " bowl" * i)
    everything = await _ids(catalog, query=f"bowl {tag}", page_size=10)
    assert await _walk(catalog, query=f"bowl {tag}") == everything


def _facet_map(facets: catalog_pb2.Facets) -> dict[str, int]:
    counts = {f"category:{c.category_id}": c.count for c in facets.categories}
    for band in facets.price_bands:
        counts[f"price:{band.min_minor}:{band.max_minor if band.HasField('max_minor') else ''}"] = band.count
    counts["in_stock"] = facets.in_stock
    return counts


async def test_filters_and_facets_agree(catalog: Stub, admin: Admin) -> None:
    tag = word()
    root = await category(catalog, admin)
    left = await category(catalog, admin, parent=root)
    right = await category(catalog, admin, parent=root)
    leaf = await category(catalog, admin, parent=left)
    rows: Sequence[tuple[int, list[int], bool, float]] = [
        (500, [leaf], True, 4.0),
        (1500, [left], False, 3.0),
        (3000, [right], True, 5.0),
        (3000, [leaf, right], True, 2.0),
        (60000, [], False, 4.5),
        (999, [root], True, 0.0),
    ]
    for cents, categories, in_stock, rating in rows:
        item = await product(catalog, admin, f"Chair {tag}", cents=cents, categories=categories)
        await catalog.SetProductSignals(
            catalog_pb2.SetProductSignalsRequest(
                product_id=item.id, in_stock=in_stock, rating_average=rating
            ),
            metadata=admin,
        )

    async def total(**filters: Any) -> int:
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, page_size=1, **filters)
        )
        return int(reply.total_size)

    assert await total() == 6
    assert await total(category_id=root) == 5
    assert await total(category_id=left) == 3  # its own and its descendant's, each product once
    assert await total(min_price_minor=1000, max_price_minor=3000) == 3
    assert await total(in_stock_only=True) == 4
    assert await total(min_rating=4.0) == 3

    # Under any combination of filters, each facet value's count is what choosing it gives.
    for base in (
        {},
        {"in_stock_only": True},
        {"category_id": left},
        {"min_price_minor": 900, "min_rating": 2.5},
    ):
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, include_facets=True, **base)
        )
        counts = _facet_map(reply.facets)
        assert reply.total_size == await total(**base)
        for name, count in counts.items():
            if name.startswith("category:"):
                chosen = {**base, "category_id": int(name.split(":")[1])}
            elif name.startswith("price:"):
                low, high = name.split(":")[1:]
                chosen = {k: v for k, v in base.items() if not k.endswith("price_minor")}
                chosen["min_price_minor"] = int(low)
                if high:
                    chosen["max_price_minor"] = int(high)
            else:
                chosen = {**base, "in_stock_only": True}
            assert await total(**chosen) == count, (base, name)
        assert reply.facets.in_stock + reply.facets.out_of_stock == await total(
            **{k: v for k, v in base.items() if k != "in_stock_only"}
        )
    reply = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=tag, include_facets=True))
    assert _facet_map(reply.facets)[f"category:{root}"] == 5
    assert _facet_map(reply.facets)["price:50000:"] == 1


@pytest.mark.parametrize(
    "request_",
    [
        catalog_pb2.SearchProductsRequest(page_token="%%%"),
        catalog_pb2.SearchProductsRequest(min_price_minor=-1),
        catalog_pb2.SearchProductsRequest(min_rating=6),
        catalog_pb2.SearchProductsRequest(sort=99),  # type: ignore[arg-type]
        catalog_pb2.SearchProductsRequest(query="x" * 201),
    ],
)
async def test_bad_searches_are_invalid_argument(
    catalog: Stub, request_: catalog_pb2.SearchProductsRequest
) -> None:
    import grpc

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.SearchProducts(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_token_from_another_sort_is_refused(catalog: Stub, admin: Admin) -> None:
    import grpc

    tag = word()
    for _ in range(3):
        await product(catalog, admin, f"Cup {tag}")
    first = await catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query=tag, page_size=1, sort=catalog_pb2.SEARCH_SORT_NAME)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(
                query=tag,
                page_size=1,
                sort=catalog_pb2.SEARCH_SORT_PRICE_ASC,
                page_token=first.next_page_token,
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(category_id=2**62))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
