"""The listing's counts (total and facets) kept for a few seconds per filter.

Counting is the one part of a listing whose cost grows with the catalog: at 100,000 products a
total or a facet reads every matching row, while the page itself is a short keyset read. Every
page of one filter (the next pages, the other sorts) shares its counts, so they are counted once
per filter and kept:

- until this process writes to the catalog database (`Database.writes` moves on), which covers
  every change made through this replica, its stock and rating pulls included;
- at most `seconds` for changes made through another replica.

Only counts are kept: the page's products, their prices and whether they are in stock are read
fresh on every request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from .contract import Facets, Query, Sort

MAX_ENTRIES = 2048


@dataclass(frozen=True)
class Counts:
    total: int
    facets: Facets | None


def filter_of(query: Query) -> Query:
    """The part of a query its counts depend on: not the page, its size or the order."""
    return replace(query, sort=Sort.NEWEST, limit=0, page_token="")


class CountCache:
    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.seconds = seconds
        self._max = max_entries
        self._entries: OrderedDict[Query, tuple[int, float, Counts]] = OrderedDict()

    def get(self, query: Query, writes: int) -> Counts | None:
        key = filter_of(query)
        entry = self._entries.get(key)
        if entry is None:
            return None
        stamp, at, counts = entry
        if stamp != writes or time.monotonic() - at > self.seconds:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return counts

    def put(self, query: Query, writes: int, counts: Counts) -> None:
        """`writes` is the stamp read before the counting began, so a write that lands while
        counting makes the entry stale at once."""
        if self.seconds <= 0:
            return
        key = filter_of(query)
        self._entries[key] = (writes, time.monotonic(), counts)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
