"""PostgreSQL (production): the generated `search_vector` column (name and SKU weighted above the
description) with a GIN index, ranked by ts_rank_cd, prefix tsqueries; typo candidates from a
pg_trgm GIN index of the vocabulary. The tsvector follows every write by itself."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .contract import Document
from .sql import SqlSearch, Term

MAX_TRIGRAM_CANDIDATES = 50


def ts_query(words: Sequence[Term]) -> str:
    # Words are \w+ only (search/text.py): nothing in them is tsquery syntax.
    return " & ".join(t.word + (":*" if t.prefix else "") for t in words)


class PostgresSearch(SqlSearch):
    async def _write_document(self, session: AsyncSession, product_id: int, doc: Document | None) -> None:
        return None  # the generated column

    async def _vocabulary_added(self, session: AsyncSession, term_id: int, term: str) -> None:
        return None  # the trigram index follows the table

    async def _vocabulary_removed(self, session: AsyncSession, term_id: int, term: str) -> None:
        return None

    async def _trigram_candidates(self, word: str) -> list[tuple[str, int]]:
        rows = await self._db.fetch(
            sa.text(
                "SELECT term, products FROM search_terms WHERE term % :w "
                "ORDER BY similarity(term, :w) DESC LIMIT :n"
            ),
            {"w": word, "n": MAX_TRIGRAM_CANDIDATES},
        )
        return [(term, count) for term, count in rows]

    def _matches(self, words: Sequence[Term], ranked: bool = True) -> sa.Subquery:
        score = "ts_rank_cd(p.search_vector, q)::float8" if ranked else "0::float8"
        return (
            sa.text(
                f"SELECT p.id AS id, {score} AS score "
                "FROM products p, to_tsquery('simple', :q) q WHERE p.search_vector @@ q"
            )
            .bindparams(q=ts_query(words))
            .columns(id=sa.BigInteger(), score=sa.Float())
            .subquery("matches")
        )
