"""A listing's counts (its total and facets) from an in-memory index of the live products.

Counting is the one part of a listing whose cost grows with the catalog: in SQL a total or a facet
reads every matching row (at 100,000 products 5-110 ms of SQLite per query, and a faceted listing
is four of them), while the page itself is a short keyset read. The index keeps, per product, what
the filters and facets look at (status, price, in stock, rating, categories) as bitsets: Python
ints with one bit per product, so a filter is a few ANDs of 12.5 KB ints and a count is
`int.bit_count()`, a millisecond or two for every facet of a listing at 100,000 products, on both
storage backends. The page's products, prices and stock are still read from the database on every
request; only counts come from here.

Freshness:
- This process's writes (product changes, pushed signals, a signals pass) name the products they
  changed (`changed`, called after the commit); the next count reloads those rows first, so they
  show at once.
- Changes made through another replica show within `seconds`: an index older than that is rebuilt
  in the background while the old one keeps answering (with 0, every count rebuilds it first).
- A change to the category tree through this process rebuilds the index before the next count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from services.kit.database import Database

from ..domain import PRICE_BANDS
from ..tables import CategoryRow, ProductCategoryRow, ProductRow
from .contract import Facets, Query

log = logging.getLogger(__name__)

# Price buckets of about equal size: a range is the OR of the buckets inside it plus a check of
# the products of the two buckets at its ends.
PRICE_BUCKETS = 128
# Ratings (0-5) in steps of a tenth.
RATING_EDGES = [i / 10 for i in range(51)]

_P = ProductRow.__table__
_COLUMNS = (_P.c.id, _P.c.status, _P.c.price_minor, _P.c.in_stock, _P.c.rating_average)
_ALL_PRODUCTS = sa.select(*_COLUMNS).where(_P.c.deleted_at.is_(None))
# A deleted product's rows are left out by the index (no position), not by the query.
_ALL_MEMBERS = sa.select(ProductCategoryRow.product_id, ProductCategoryRow.category_id)
_SOME_PRODUCTS = sa.select(*_COLUMNS).where(
    _P.c.deleted_at.is_(None), _P.c.id.in_(sa.bindparam("ids", expanding=True))
)
_SOME_MEMBERS = sa.select(ProductCategoryRow.product_id, ProductCategoryRow.category_id).where(
    ProductCategoryRow.product_id.in_(sa.bindparam("ids", expanding=True))
)
_CATEGORIES = sa.select(CategoryRow.id, CategoryRow.path)
# Text searches whose matches are kept (a bitset each, 12.5 KB at 100,000 products).
MAX_TEXTS = 256
# Reloads of changed products go in chunks (SQLite's bound-parameter limit).
_CHUNK = 500


def bits(positions: Iterable[int]) -> int:
    """The bitset with these positions set (through a bytearray: OR-ing ints one bit at a time
    copies the whole int each time)."""
    ps = list(positions)
    if not ps:
        return 0
    marks = bytearray((max(ps) >> 3) + 1)
    for p in ps:
        marks[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(marks, "little")


def flags(values: Sequence[bool]) -> int:
    """The bitset of the positions whose value is true, at C speed: as a string of binary digits."""
    if not values:
        return 0
    return int(bytes(values[::-1]).translate(_BINARY_DIGITS), 2)


_BINARY_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


class Buckets:
    """One numeric column as bitsets per value range, for range filters."""

    def __init__(self, edges: Sequence[float], values: Sequence[float | None]) -> None:
        self.edges = list(edges)  # the lower bound of each bucket; below edges[0] falls in bucket 0
        self.members: list[set[int]] = [set() for _ in self.edges]
        edges_, members = self.edges, self.members
        # The least value bucket 0 can hold (it takes everything below edges[0]): a range from
        # there on takes bucket 0 whole instead of checking each of its products.
        self.floor = min([self.edges[0], *(v for v in values if v is not None)])
        for position, value in enumerate(values):
            if value is not None:
                members[max(0, bisect_right(edges_, value) - 1)].add(position)
        self.masks = [bits(m) for m in self.members]

    def _bucket(self, value: float) -> int:
        return max(0, bisect_right(self.edges, value) - 1)

    def add(self, position: int, value: float) -> None:
        self.floor = min(self.floor, value)
        b = self._bucket(value)
        self.members[b].add(position)
        self.masks[b] |= 1 << position

    def remove(self, position: int, value: float) -> None:
        b = self._bucket(value)
        self.members[b].discard(position)
        self.masks[b] &= ~(1 << position)

    def within(self, low: float | None, below: float | None, values: Sequence[float | None]) -> int:
        """Positions whose value v has low <= v < below (either end open when None)."""
        mask = 0
        for b, bucket_mask in enumerate(self.masks):
            start = self.edges[b] if b else self.floor
            end = self.edges[b + 1] if b + 1 < len(self.edges) else float("inf")  # exclusive
            if (below is not None and start >= below) or (low is not None and end <= low):
                continue
            if (low is None or start >= low) and (below is None or end <= below):
                mask |= bucket_mask
                continue
            mask |= bits(
                p
                for p in self.members[b]
                if (v := values[p]) is not None and (low is None or v >= low) and (below is None or v < below)
            )
        return mask


def _price_edges(prices: Iterable[int]) -> list[float]:
    """About equal buckets, split at the facets' price bands too so a band is whole buckets."""
    ordered = sorted(set(prices))
    step = max(1, len(ordered) // PRICE_BUCKETS)
    return sorted({*(float(v) for v in ordered[::step]), *(float(b.min_minor) for b in PRICE_BANDS)})


class _Snapshot:
    """The index as of one load, patched in place by reloads of changed products."""

    def __init__(self, rows: Sequence[Any], members: Sequence[Any], tree: Sequence[Any] = ()) -> None:
        # (id, path) of every category, as of the load.
        self.tree: tuple[tuple[int, str], ...] = tuple(sorted((int(c), str(p)) for c, p in tree))
        # Column by column: zip(*rows) over 100,000 rows costs five times as much.
        ids, status, price, stock, rating = ([row[i] for row in rows] for i in range(5))
        n = len(ids)
        self.position: dict[int, int] = dict(zip(ids, range(n), strict=True))
        self.status: list[str | None] = status
        self.price: list[float | None] = price
        self.rating: list[float | None] = rating
        # The categories of each position that has any.
        self.categories: dict[int, list[int]] = {}
        direct: dict[int, list[int]] = {}
        for product_id, category_id in members:
            if (p := self.position.get(product_id)) is not None:
                direct.setdefault(category_id, []).append(p)
                self.categories.setdefault(p, []).append(category_id)
        self.direct = {c: bits(ps) for c, ps in direct.items()}
        self.live = (1 << n) - 1
        self.statuses = {s: flags([x == s for x in status]) for s in set(status)}
        self.in_stock = flags([bool(x) for x in stock])
        self.prices = Buckets(_price_edges(int(v) for v in price), self.price)
        self.ratings = Buckets(RATING_EDGES, self.rating)
        # Subtree bitsets per category, until a patch changes `direct` (the tree is fixed per snapshot).
        self._subtrees: dict[int, int] | None = None

    def _append(self, row: Any) -> None:
        self.position[row.id] = len(self.status)
        self.status.append(row.status)
        self.price.append(row.price_minor)
        self.rating.append(row.rating_average)

    def patch(self, ids: Iterable[int], rows: Sequence[Any], members: Sequence[Any]) -> None:
        """Takes the changed products out, then puts back those still live as they are now."""
        for product_id in ids:
            p = self.position.get(product_id)
            if p is not None and self.status[p] is not None:
                self._remove(p)
        by_product: dict[int, set[int]] = {}
        for product_id, category_id in members:
            by_product.setdefault(product_id, set()).add(category_id)
        for row in rows:
            p = self.position.get(row.id)
            if p is None:
                self._append(row)
                p = len(self.status) - 1
            self._put(p, row, sorted(by_product.get(row.id, ())))
        self._subtrees = None

    def _remove(self, p: int) -> None:
        clear = ~(1 << p)
        self.live &= clear
        self.statuses[str(self.status[p])] &= clear
        self.in_stock &= clear
        if (price := self.price[p]) is not None:
            self.prices.remove(p, price)
        if (rating := self.rating[p]) is not None:
            self.ratings.remove(p, rating)
        for c in self.categories.pop(p, ()):
            self.direct[c] &= clear
        self.status[p] = self.price[p] = self.rating[p] = None

    def _put(self, p: int, row: Any, categories: list[int]) -> None:
        self.status[p], self.price[p], self.rating[p] = row.status, row.price_minor, row.rating_average
        if categories:
            self.categories[p] = categories
        bit = 1 << p
        self.live |= bit
        self.statuses[row.status] = self.statuses.get(row.status, 0) | bit
        if row.in_stock:
            self.in_stock |= bit
        self.prices.add(p, row.price_minor)
        self.ratings.add(p, row.rating_average)
        for c in categories:
            self.direct[c] = self.direct.get(c, 0) | bit

    def subtrees(self) -> dict[int, int]:
        """Per category, the products in it or below it (kept until a patch changes `direct`)."""
        if self._subtrees is None:
            masks = {c: self.direct.get(c, 0) for c, _ in self.tree}
            parent = {c: _parent(path) for c, path in self.tree}
            # Deepest first, so each child's subtree is complete before its parent takes it in.
            for c, _ in sorted(self.tree, key=lambda t: -len(t[1])):
                if (up := parent[c]) is not None and up in masks:
                    masks[up] |= masks[c]
            self._subtrees = masks
        return self._subtrees

    def mask_of(self, product_ids: Iterable[int]) -> int:
        return bits(p for i in product_ids if (p := self.position.get(i)) is not None)

    def counts(self, query: Query, matched: int | None) -> tuple[int, Facets | None]:
        """`matched`: the bitset of the products the query's text matched (None: no text)."""
        base = 0
        for status in query.statuses:
            base |= self.statuses.get(status, 0)
        if matched is not None:
            base &= matched
        subtrees = self.subtrees()
        everything = self.live
        category = everything
        if query.category_path is not None:
            category = 0
            for c, path in self.tree:
                if path == query.category_path:
                    category = subtrees[c]
        price = everything
        if query.min_price is not None or query.max_price is not None:
            below = query.max_price + 1 if query.max_price is not None else None  # whole minor units
            price = self.prices.within(query.min_price, below, self.price)
        stock = self.in_stock if query.in_stock_only else everything
        if query.min_rating is not None:
            base &= self.ratings.within(query.min_rating, None, self.rating)
        total = (base & category & price & stock).bit_count()
        if not query.facets:
            return total, None
        without_category = base & price & stock
        categories = {c: n for c, mask in subtrees.items() if (n := (mask & without_category).bit_count())}
        without_price = base & category & stock
        bands = []
        for band in PRICE_BANDS:
            below = band.max_minor + 1 if band.max_minor is not None else None
            bands.append(
                (band, (self.prices.within(band.min_minor, below, self.price) & without_price).bit_count())
            )
        without_stock = base & category & price
        in_stock = (without_stock & self.in_stock).bit_count()
        return total, Facets(
            categories=categories,
            price_bands=bands,
            in_stock=in_stock,
            out_of_stock=without_stock.bit_count() - in_stock,
        )


def _parent(path: str) -> int | None:
    parts = path.strip("/").split("/")
    return int(parts[-2]) if len(parts) > 1 else None


class ListingIndex:
    def __init__(self, db: Database, seconds: float) -> None:
        self._db = db
        self.seconds = seconds
        self._snapshot: _Snapshot | None = None
        self._built_at = 0.0
        self._dirty: set[int] = set()
        self._lock = asyncio.Lock()
        self._rebuilding: asyncio.Task[None] | None = None
        # What the text searches of the current snapshot matched, by query; cleared by a
        # rebuild (new positions) and by any change to a product's text (`generation`).
        self._texts: OrderedDict[str, int] = OrderedDict()
        self._generation = 0
        self._stale = False

    def tree_changed(self) -> None:
        """This process changed the category tree: the next count rebuilds the index first (a
        deleted category takes its products out of it; admins do this rarely)."""
        self._stale = True

    def changed(self, product_ids: Iterable[int], text: bool) -> None:
        """This process committed changes to these products (`text`: to what search matches)."""
        self._dirty.update(product_ids)
        if text:
            self._generation += 1
            self._texts.clear()

    async def warm(self) -> None:
        """Builds the index ahead of the first listing."""
        try:
            await self._current()
        except Exception:  # the first count tries again
            log.warning("listing index could not be built at start", exc_info=True)

    async def counts(
        self, query: Query, text: str, matches: Callable[[], Awaitable[Sequence[int]]]
    ) -> tuple[int, Facets | None]:
        """The query's total and (when asked) facets. `text` names what the query's words match
        ("" for no words) and `matches` reads those product ids."""
        snapshot = await self._current()
        matched = None
        if text:
            matched = self._texts.get(text)
            if matched is None:
                generation = self._generation
                ids = await matches()
                matched = snapshot.mask_of(ids)
                if generation == self._generation and snapshot is self._snapshot:
                    self._texts[text] = matched
                    while len(self._texts) > MAX_TEXTS:
                        self._texts.popitem(last=False)
            else:
                self._texts.move_to_end(text)
        return snapshot.counts(query, matched)

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None or self.seconds <= 0 or self._stale:
            async with self._lock:
                if self._snapshot is None or self.seconds <= 0 or self._stale:
                    await self._rebuild()
            snapshot = self._snapshot
            assert snapshot is not None
        elif time.monotonic() - self._built_at > self.seconds and self._rebuilding is None:
            self._rebuilding = asyncio.create_task(self._rebuild_in_background())
        if self._dirty:
            async with self._lock:
                await self._reload_changed()
        return self._snapshot or snapshot

    async def _rebuild_in_background(self) -> None:
        try:
            await self._rebuild()
        except Exception:  # the old index keeps answering; the next count tries again
            log.warning("listing index rebuild failed", exc_info=True)
        finally:
            self._rebuilding = None

    async def _rebuild(self) -> None:
        # Changes committed before the load are in it; those marked while it runs stay marked.
        covered, self._dirty = self._dirty, set()
        stale, self._stale = self._stale, False
        started = time.monotonic()
        try:
            rows, members, tree = await self._db.fetch_each(_ALL_PRODUCTS, _ALL_MEMBERS, _CATEGORIES)
        except BaseException:
            self._dirty |= covered
            self._stale |= stale
            raise
        self._snapshot = _Snapshot(rows, members, tree)
        self._texts.clear()
        self._built_at = started

    async def _reload_changed(self) -> None:
        if not self._dirty or self._snapshot is None:
            return
        ids, self._dirty = sorted(self._dirty), set()
        try:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                rows = await self._db.fetch(_SOME_PRODUCTS, {"ids": chunk})
                members = await self._db.fetch(_SOME_MEMBERS, {"ids": chunk})
                self._snapshot.patch(chunk, rows, members)
        except BaseException:
            self._dirty.update(ids)
            raise
