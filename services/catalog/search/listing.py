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
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
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
# A rebuild reads in keyset chunks: a few MB of rows at a time instead of every row at once.
_LOAD_CHUNK = 10_000
_PRODUCTS_AFTER = (
    sa.select(*_COLUMNS)
    .where(_P.c.deleted_at.is_(None), _P.c.id > sa.bindparam("after"))
    .order_by(_P.c.id)
    .limit(_LOAD_CHUNK)
)
_PC = ProductCategoryRow.__table__
# A deleted product's rows are left out by the index (no position), not by the query.
_MEMBERS_AFTER = (
    sa.select(_PC.c.product_id, _PC.c.category_id)
    .where(sa.tuple_(_PC.c.product_id, _PC.c.category_id) > sa.tuple_(sa.bindparam("p"), sa.bindparam("c")))
    .order_by(_PC.c.product_id, _PC.c.category_id)
    .limit(_LOAD_CHUNK)
)
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


def positions(mask: int) -> Iterator[int]:
    """The positions set in a bitset (through its binary digits: a loop over set bits only)."""
    digits = bin(mask)
    top = len(digits) - 1
    at = digits.find("1", 2)
    while at != -1:
        yield top - at
        at = digits.find("1", at + 1)


class Buckets:
    """One numeric column as bitsets per value range, for range filters. The values themselves
    stay in the snapshot's arrays; a bucket a range only partly covers is checked value by value."""

    def __init__(self, edges: Sequence[float], values: Sequence[float], live: int) -> None:
        self.edges = list(edges)  # the lower bound of each bucket; below edges[0] falls in bucket 0
        members: list[list[int]] = [[] for _ in self.edges]
        # The least value bucket 0 can hold (it takes everything below edges[0]): a range from
        # there on takes bucket 0 whole instead of checking each of its products.
        self.floor = min([self.edges[0], *(values[p] for p in positions(live))])
        for position in positions(live):
            members[self._bucket(values[position])].append(position)
        self.masks = [bits(m) for m in members]

    def _bucket(self, value: float) -> int:
        return max(0, bisect_right(self.edges, value) - 1)

    def add(self, position: int, value: float) -> None:
        self.floor = min(self.floor, value)
        self.masks[self._bucket(value)] |= 1 << position

    def remove(self, position: int, value: float) -> None:
        self.masks[self._bucket(value)] &= ~(1 << position)

    def within(self, low: float | None, below: float | None, values: Sequence[float]) -> int:
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
                for p in positions(bucket_mask)
                if (low is None or values[p] >= low) and (below is None or values[p] < below)
            )
        return mask


def _flags_of(codes: bytearray, code: int, negate: bool = False) -> int:
    """The bitset of the positions whose byte is `code` (or is not, with `negate`), at C speed:
    the bytes translated to binary digits, read as one int."""
    if not codes:
        return 0
    hit, miss = (b"0", b"1") if negate else (b"1", b"0")
    table = bytes(hit[0] if i == code else miss[0] for i in range(256))
    return int(bytes(codes[::-1]).translate(table), 2)


def _price_edges(prices: Iterable[int]) -> list[float]:
    """About equal buckets, split at the facets' price bands too so a band is whole buckets."""
    ordered = sorted(set(prices))
    step = max(1, len(ordered) // PRICE_BUCKETS)
    return sorted({*(float(v) for v in ordered[::step]), *(float(b.min_minor) for b in PRICE_BANDS)})


class _Snapshot:
    """The index as of one load (`extend`, then `seal`), patched in place by reloads of changed
    products. Per position: the product's id, status code, price, rating and categories, in
    arrays (a few MB at 100,000 products; lists of Python objects took about 90)."""

    def __init__(self) -> None:
        self.position: dict[int, int] = {}
        self.ids = array("q")
        self.status = bytearray()  # a code into `names`; 0: gone (deleted, or changed and reloaded)
        self.names: list[str] = [""]
        self.stock = bytearray()
        self.price = array("q")
        self.rating = array("d")
        # The categories of each position: the first in `category` (0: none), any more in `more`.
        self.category = array("q")
        self.more: dict[int, list[int]] = {}
        self.tree: tuple[tuple[int, str], ...] = ()
        # Subtree bitsets per category, for one version of the tree and of `direct`.
        self._subtrees: tuple[tuple[tuple[int, str], ...], dict[int, int]] | None = None

    @classmethod
    def of(cls, rows: Iterable[Any], members: Iterable[Any], tree: Iterable[Any] = ()) -> _Snapshot:
        snapshot = cls()
        snapshot.extend(rows)
        snapshot.extend_members(members)
        snapshot.seal(tree)
        return snapshot

    def _code(self, status: str) -> int:
        if status not in self.names:
            self.names.append(status)
        return self.names.index(status)

    def extend(self, rows: Iterable[Any]) -> None:
        """Rows of (id, status, price, in stock, rating), each id once."""
        for product_id, status, price, stock, rating in rows:
            self.position[product_id] = len(self.ids)
            self.ids.append(product_id)
            self.status.append(self._code(status))
            self.stock.append(1 if stock else 0)
            self.price.append(price)
            self.rating.append(rating)
            self.category.append(0)

    def extend_members(self, members: Iterable[Any]) -> None:
        """Rows of (product id, category id); products not loaded are left out."""
        for product_id, category_id in members:
            if (p := self.position.get(product_id)) is None:
                continue
            if not self.category[p]:
                self.category[p] = category_id
            elif category_id != self.category[p]:
                self.more.setdefault(p, []).append(category_id)

    def seal(self, tree: Iterable[Any]) -> None:
        """Builds the bitsets once every row and member is in."""
        self.tree = tuple(sorted((int(c), str(path)) for c, path in tree))
        self.statuses = {name: _flags_of(self.status, code) for code, name in enumerate(self.names) if code}
        self.live = _flags_of(self.status, 0, negate=True)
        self.in_stock = _flags_of(self.stock, 1) & self.live
        self.prices = Buckets(_price_edges(self.price), self.price, self.live)
        self.ratings = Buckets(RATING_EDGES, self.rating, self.live)
        direct: dict[int, list[int]] = {}
        for p in positions(self.live):
            for c in self._categories_of(p):
                direct.setdefault(c, []).append(p)
        self.direct = {c: bits(ps) for c, ps in direct.items()}
        self._subtrees = None

    def _categories_of(self, p: int) -> list[int]:
        first = self.category[p]
        return [first, *self.more.get(p, ())] if first else []

    def patch(self, ids: Iterable[int], rows: Sequence[Any], members: Sequence[Any]) -> None:
        """Takes the changed products out, then puts back those still live as they are now."""
        for product_id in ids:
            p = self.position.get(product_id)
            if p is not None and self.status[p]:
                self._remove(p)
        by_product: dict[int, list[int]] = {}
        for product_id, category_id in members:
            by_product.setdefault(product_id, []).append(category_id)
        for row in rows:
            p = self.position.get(row[0])
            if p is None:
                self.extend([row])
                p = len(self.ids) - 1
            self._put(p, row, sorted(set(by_product.get(row[0], ()))))
        self._subtrees = None

    def _remove(self, p: int) -> None:
        clear = ~(1 << p)
        self.live &= clear
        self.statuses[self.names[self.status[p]]] &= clear
        self.in_stock &= clear
        self.prices.remove(p, self.price[p])
        self.ratings.remove(p, self.rating[p])
        for c in self._categories_of(p):
            self.direct[c] &= clear
        self.status[p] = 0
        self.category[p] = 0
        self.more.pop(p, None)

    def _put(self, p: int, row: Any, categories: list[int]) -> None:
        _, status, price, stock, rating = row
        self.status[p], self.stock[p], self.price[p], self.rating[p] = (
            self._code(status),
            bool(stock),
            price,
            rating,
        )
        self.category[p] = categories[0] if categories else 0
        if len(categories) > 1:
            self.more[p] = categories[1:]
        bit = 1 << p
        self.live |= bit
        self.statuses[status] = self.statuses.get(status, 0) | bit
        if stock:
            self.in_stock |= bit
        self.prices.add(p, price)
        self.ratings.add(p, rating)
        for c in categories:
            self.direct[c] = self.direct.get(c, 0) | bit

    def subtrees(self, tree: tuple[tuple[int, str], ...]) -> dict[int, int]:
        """Per category, the products in it or below it."""
        if self._subtrees is None or self._subtrees[0] != tree:
            masks = {c: self.direct.get(c, 0) for c, _ in tree}
            parent = {c: _parent(path) for c, path in tree}
            # Deepest first, so each child's subtree is complete before its parent takes it in.
            for c, _ in sorted(tree, key=lambda t: -len(t[1])):
                if (up := parent[c]) is not None and up in masks:
                    masks[up] |= masks[c]
            self._subtrees = (tree, masks)
        return self._subtrees[1]

    def mask_of(self, product_ids: Iterable[int]) -> int:
        return bits(p for i in product_ids if (p := self.position.get(i)) is not None)

    def counts(
        self, query: Query, tree: tuple[tuple[int, str], ...], matched: int | None
    ) -> tuple[int, Facets | None]:
        """`matched`: the bitset of the products the query's text matched (None: no text)."""
        base = 0
        for status in query.statuses:
            base |= self.statuses.get(status, 0)
        if matched is not None:
            base &= matched
        subtrees = self.subtrees(tree)
        everything = self.live
        category = everything
        if query.category_path is not None:
            category = 0
            for c, path in tree:
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
        return snapshot.counts(query, snapshot.tree, matched)

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
            self._snapshot = await self._load()
        except BaseException:
            self._dirty |= covered
            self._stale |= stale
            raise
        self._texts.clear()
        self._built_at = started

    async def _load(self) -> _Snapshot:
        snapshot = _Snapshot()
        after = 0
        while rows := await self._db.fetch(_PRODUCTS_AFTER, {"after": after}):
            snapshot.extend(rows)
            after = rows[-1][0]
        last = (0, 0)
        while members := await self._db.fetch(_MEMBERS_AFTER, {"p": last[0], "c": last[1]}):
            snapshot.extend_members(members)
            last = (members[-1][0], members[-1][1])
        snapshot.seal(await self._db.fetch(_CATEGORIES))
        return snapshot

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
