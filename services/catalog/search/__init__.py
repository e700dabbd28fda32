"""Product search behind one contract (`SearchBackend`), one implementation per storage:

- `sqlite.SqliteSearch`: FTS5 (bm25 ranking, prefix queries) + an FTS5 trigram index of the
  vocabulary for typo candidates.
- `postgres.PostgresSearch`: a generated tsvector column (ts_rank_cd, prefix tsqueries) + pg_trgm
  over the vocabulary.

Filters, sorts and keyset pages are plain SQL shared by both (`sql.SqlSearch`); totals and facets
come from an in-memory index of the live products (`listing.ListingIndex`). A deployment
that outgrows its database (millions of products, many languages) implements `SearchBackend` over a
search engine instead; see the catalog's README.
"""

from __future__ import annotations

from services.kit.database import Database

from .contract import Document, Facets, Query, Result, SearchBackend, Sort
from .listing import ListingIndex
from .postgres import PostgresSearch
from .sqlite import SqliteSearch

__all__ = ["Document", "Facets", "Query", "Result", "SearchBackend", "Sort", "for_database"]


def for_database(db: Database, count_seconds: float = 0.0) -> SearchBackend:
    """`count_seconds`: how long counts may miss changes made through another replica."""
    listing = ListingIndex(db, count_seconds)
    return SqliteSearch(db, listing) if db.is_sqlite else PostgresSearch(db, listing)
