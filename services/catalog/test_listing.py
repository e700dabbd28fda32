"""The listing index's counts agree with counting the products one by one, for random catalogs,
random filters and random changes patched in (the tests beside it check the same through the
service on both databases)."""

from __future__ import annotations

import random
from typing import NamedTuple

import pytest

from services.catalog.domain import PRICE_BANDS
from services.catalog.search.contract import Facets, Query
from services.catalog.search.listing import _Snapshot, bits, flags

STATUSES = ("active", "draft", "archived")
# id, path: two departments, subcategories below them, one more level below the first.
TREE = ((1, "/1/"), (2, "/2/"), (3, "/1/3/"), (4, "/1/4/"), (5, "/2/5/"), (6, "/1/3/6/"))


class Row(NamedTuple):
    """As the index's queries return it: by position and by name."""

    id: int
    status: str
    price_minor: int
    in_stock: bool
    rating_average: float


def _row(rng: random.Random, product_id: int) -> Row:
    band = rng.choice(PRICE_BANDS)  # prices at band edges as well as between them
    price = rng.choice([band.min_minor, band.min_minor + rng.randint(0, 3000), (band.max_minor or 90_000)])
    rating = rng.choice([0.0, 3.0, 4.0, round(rng.uniform(0, 5), 2), 5.0])
    return Row(product_id, rng.choice(STATUSES), price, rng.random() < 0.6, rating)


def _categories(rng: random.Random) -> set[int]:
    return set(rng.sample([c for c, _ in TREE], rng.choice([0, 1, 1, 1, 2])))


def _query(rng: random.Random, ids: list[int]) -> tuple[Query, list[int] | None]:
    low = rng.choice([None, 0, 1000, rng.randint(0, 60_000)])
    high = rng.choice([None, 2499, rng.randint(0, 90_000)])
    query = Query(
        category_path=rng.choice([None, *(p for _, p in TREE)]),
        min_price=low,
        max_price=high,
        in_stock_only=rng.random() < 0.5,
        min_rating=rng.choice([None, 0, 3, 3.5, 4.25]),
        statuses=tuple(rng.sample(STATUSES, rng.randint(1, 2))),
        facets=True,
    )
    matched = rng.sample(ids, len(ids) // 3) if rng.random() < 0.3 else None
    return query, matched


def _naive(
    rows: dict[int, Row], members: dict[int, set[int]], query: Query, matched: list[int] | None
) -> tuple[int, Facets]:
    paths = dict(TREE)

    def keep(row: Row, skip: str = "") -> bool:
        cats = {paths[c] for c in members.get(row.id, set())}
        return (
            row.status in query.statuses
            and (matched is None or row.id in matched)
            and (query.min_rating is None or row.rating_average >= query.min_rating)
            and (
                skip == "category"
                or query.category_path is None
                or any(p.startswith(query.category_path) for p in cats)
            )
            and (skip == "price" or query.min_price is None or row.price_minor >= query.min_price)
            and (skip == "price" or query.max_price is None or row.price_minor <= query.max_price)
            and (skip == "stock" or not query.in_stock_only or row.in_stock)
        )

    def within(row: Row, path: str) -> bool:
        return any(paths[c].startswith(path) for c in members.get(row.id, set()))

    categories = {
        c: n for c, path in TREE if (n := sum(keep(r, "category") and within(r, path) for r in rows.values()))
    }
    bands = [
        (
            band,
            sum(
                keep(r, "price")
                and r.price_minor >= band.min_minor
                and (band.max_minor is None or r.price_minor <= band.max_minor)
                for r in rows.values()
            ),
        )
        for band in PRICE_BANDS
    ]
    stock = [r for r in rows.values() if keep(r, "stock")]
    in_stock = sum(r.in_stock for r in stock)
    total = sum(keep(r) for r in rows.values())
    return total, Facets(categories, bands, in_stock, len(stock) - in_stock)


@pytest.mark.parametrize("seed", range(8))
def test_counts_agree_with_counting_one_by_one_through_changes(seed: int) -> None:
    rng = random.Random(seed)
    rows = {i: _row(rng, i) for i in range(1, 400)}
    members = {i: _categories(rng) for i in rows}
    index = _Snapshot(list(rows.values()), [(p, c) for p, cs in members.items() for c in cs], TREE)
    next_id = 400
    for _ in range(12):
        for _ in range(5):
            query, matched = _query(rng, list(rows))
            mask = None if matched is None else index.mask_of(matched)
            assert index.counts(query, mask) == _naive(rows, members, query, matched)
        # Changes as the writers make them: edits, signals, deletions and new products.
        changed = rng.sample(list(rows), 20)
        for product_id in changed[:15]:
            rows[product_id] = _row(rng, product_id)
            members[product_id] = _categories(rng)
        for product_id in changed[15:]:
            del rows[product_id], members[product_id]
        for product_id in range(next_id, next_id + 5):
            rows[product_id] = _row(rng, product_id)
            members[product_id] = _categories(rng)
            changed.append(product_id)
        next_id += 5
        live = [rows[i] for i in changed if i in rows]
        index.patch(changed, live, [(r.id, c) for r in live for c in members[r.id]])


def test_bitsets_hold_exactly_the_positions_given() -> None:
    assert bits([]) == 0
    assert flags([]) == 0
    assert bits([0, 9, 3]) == 0b1000001001
    assert flags([True, False, False, True, True]) == 0b11001
    positions = set(random.Random(1).sample(range(100_000), 5000))
    assert bits(positions) == flags([p in positions for p in range(100_000)])
