"""SQLite (the embedded default): FTS5 with bm25 ranking and prefix queries; typo candidates
from an FTS5 trigram index of the vocabulary. Both are written in the product writer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .contract import Document
from .sql import MAX_CANDIDATES, SqlSearch, Term
from .text import trigrams

# Column weights of bm25: a word in the name or SKU counts ten times one in the description.
_BM25 = "bm25(products_fts, 10.0, 1.0, 10.0)"


def fts_query(words: Sequence[Term]) -> str:
    # Words are \w+ only (search/text.py), so quoting them is enough.
    return " ".join(f'"{t.word}"' + ("*" if t.prefix else "") for t in words)


class SqliteSearch(SqlSearch):
    async def _write_document(self, session: AsyncSession, product_id: int, doc: Document | None) -> None:
        await session.execute(sa.text("DELETE FROM products_fts WHERE rowid = :id"), {"id": product_id})
        if doc is not None:
            await session.execute(
                sa.text("INSERT INTO products_fts (rowid, name, description, sku) VALUES (:id, :n, :d, :s)"),
                {"id": product_id, "n": doc.name, "d": doc.description, "s": doc.sku},
            )

    async def _vocabulary_added(self, session: AsyncSession, term_id: int, term: str) -> None:
        await session.execute(
            sa.text("INSERT INTO search_terms_trigram (rowid, term) VALUES (:id, :t)"),
            {"id": term_id, "t": term},
        )

    async def _vocabulary_removed(self, session: AsyncSession, term_id: int, term: str) -> None:
        await session.execute(sa.text("DELETE FROM search_terms_trigram WHERE rowid = :id"), {"id": term_id})

    async def _trigram_candidates(self, word: str) -> list[tuple[str, int]]:
        grams = trigrams(word)
        if not grams:
            return []
        rows = await self._db.fetch(
            sa.text(
                "SELECT t.term, t.products FROM search_terms_trigram g JOIN search_terms t ON t.id = g.rowid "
                "WHERE search_terms_trigram MATCH :q ORDER BY g.rank LIMIT :n"
            ),
            {"q": " OR ".join(f'"{g}"' for g in grams), "n": MAX_CANDIDATES},
        )
        return [(term, count) for term, count in rows]

    def _matches(self, words: Sequence[Term], ranked: bool = True) -> sa.Subquery:
        # LIMIT -1 (none) keeps SQLite from flattening the matches into the outer query: it then
        # reads them once and joins products by key, instead of probing the text index once per
        # product row (40 s for a count over 100,000 products once an index covered the filters).
        return (
            sa.text(
                f"SELECT rowid AS id, {f'-{_BM25}' if ranked else '0.0'} AS score FROM products_fts "
                "WHERE products_fts MATCH :q LIMIT -1"
            )
            .bindparams(q=fts_query(words))
            .columns(id=sa.Integer(), score=sa.Float())
            .subquery("matches")
        )
