"""Reviews persistence: the reviews table and the per-product rating summaries.

A summary holds the count, the rating sum and the 1..5 histogram of a product's visible reviews.
Every write that changes what a product's visible reviews add up to (create, edit, hide, unhide,
delete) adjusts the summary in the same transaction, through `_adjust_summaries`, so summaries
for many products are one indexed read.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database, added

from .domain import Cursor, Delta, Sort, contribution

# How often CreateReview retries when a concurrent request of the same user keeps winning races.
_UPSERT_ATTEMPTS = 3


class Base(DeclarativeBase):
    pass


class ReviewRow(Base):
    __tablename__ = "reviews"
    __table_args__ = (sa.UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger())
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    rating: Mapped[int] = mapped_column(sa.SmallInteger())
    comment: Mapped[str] = mapped_column(sa.Text(), default="")
    verified_purchase: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    hidden: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


@dataclass(frozen=True)
class Summary:
    """A product's rating summary as read."""

    product_id: int
    count: int
    total: int
    histogram: list[int]


class SummaryRow(Base):
    __tablename__ = "rating_summaries"

    product_id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    total: Mapped[int] = mapped_column("sum", sa.BigInteger(), default=0)
    r1: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    r2: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    r3: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    r4: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    r5: Mapped[int] = mapped_column(sa.BigInteger(), default=0)

    @property
    def histogram(self) -> list[int]:
        return [self.r1, self.r2, self.r3, self.r4, self.r5]


_SUMMARY_COLUMNS = (
    SummaryRow.product_id,
    SummaryRow.count,
    SummaryRow.total,
    SummaryRow.r1,
    SummaryRow.r2,
    SummaryRow.r3,
    SummaryRow.r4,
    SummaryRow.r5,
)
# Built once (a hot read): the statement and its cache key are not made again per call.
_SUMMARIES = sa.select(*_SUMMARY_COLUMNS).where(
    SummaryRow.product_id.in_(sa.bindparam("ids", expanding=True))
)


class DeleteOutcome(enum.Enum):
    DELETED = enum.auto()
    NOT_FOUND = enum.auto()
    NOT_AUTHOR = enum.auto()


def _newer_than(cursor: Cursor) -> sa.ColumnElement[bool]:
    """Rows after the cursor in "newest first" order (created_at desc, id desc)."""
    return sa.or_(
        ReviewRow.created_at < cursor.created_at,
        sa.and_(ReviewRow.created_at == cursor.created_at, ReviewRow.id < cursor.id),
    )


class ReviewsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(
        self, product_id: int, user_id: int, rating: int, comment: str, verified: bool | None = None
    ) -> tuple[ReviewRow, bool] | None:
        """Creates the user's review of the product, or updates the one they already wrote.

        `verified`: whether the user bought the product, or None when that could not be checked
        (a new review is then not verified; an edited one keeps what it had).
        Returns (review, created); None only if concurrent requests kept racing past every attempt.
        Race-free: the existing row is locked before it is changed, and an insert that loses to a
        concurrent insert (unique violation) rolls back to its savepoint and updates that row.
        """
        async with self._db.write() as session:
            for _ in range(_UPSERT_ATTEMPTS):
                at = timestamps.now()
                existing = await session.scalar(
                    sa.select(ReviewRow)
                    .where(ReviewRow.product_id == product_id, ReviewRow.user_id == user_id)
                    .with_for_update()
                )
                if existing is not None:
                    before = contribution(existing.rating, existing.hidden)
                    existing.rating = rating
                    existing.comment = comment
                    existing.updated_at = at
                    if verified is not None:
                        existing.verified_purchase = verified
                    # A hidden review stays hidden when its author edits it.
                    after = contribution(rating, existing.hidden)
                    await self._adjust_summaries(session, {product_id: after - before})
                    return existing, False
                row = ReviewRow(
                    product_id=product_id,
                    user_id=user_id,
                    rating=rating,
                    comment=comment,
                    verified_purchase=bool(verified),
                    hidden=False,
                    created_at=at,
                    updated_at=at,
                )
                if not await added(session, row):
                    continue  # a concurrent request of the same user inserted first: update theirs
                await self._adjust_summaries(session, {product_id: contribution(rating, False)})
                return row, True
        return None

    async def list(self, product_id: int, sort: Sort, limit: int, after: Cursor | None) -> list[ReviewRow]:
        """One page of a product's visible reviews in the given order."""
        stmt = sa.select(ReviewRow).where(ReviewRow.product_id == product_id, ReviewRow.hidden == sa.false())
        newest = (ReviewRow.created_at.desc(), ReviewRow.id.desc())
        if sort is Sort.NEWEST:
            if after is not None:
                stmt = stmt.where(_newer_than(after))
            stmt = stmt.order_by(*newest)
        elif sort is Sort.HIGHEST:
            if after is not None:
                stmt = stmt.where(
                    sa.or_(
                        ReviewRow.rating < after.rating,
                        sa.and_(ReviewRow.rating == after.rating, _newer_than(after)),
                    )
                )
            stmt = stmt.order_by(ReviewRow.rating.desc(), *newest)
        else:
            if after is not None:
                stmt = stmt.where(
                    sa.or_(
                        ReviewRow.rating > after.rating,
                        sa.and_(ReviewRow.rating == after.rating, _newer_than(after)),
                    )
                )
            stmt = stmt.order_by(ReviewRow.rating.asc(), *newest)
        async with self._db.read() as session:
            return list(await session.scalars(stmt.limit(limit)))

    async def set_hidden(self, review_id: int, hidden: bool) -> ReviewRow | None:
        async with self._db.write() as session:
            row = await session.scalar(
                sa.select(ReviewRow).where(ReviewRow.id == review_id).with_for_update()
            )
            if row is None:
                return None
            if row.hidden != hidden:
                delta = contribution(row.rating, hidden) - contribution(row.rating, row.hidden)
                # Moderation is not an edit by the author: updated_at is left alone.
                row.hidden = hidden
                await self._adjust_summaries(session, {row.product_id: delta})
            return row

    async def delete(self, review_id: int, author_id: int | None) -> DeleteOutcome:
        """Deletes a review; with `author_id`, only if that user wrote it (None: anyone's, for admins)."""
        async with self._db.write() as session:
            row = await session.scalar(
                sa.select(ReviewRow).where(ReviewRow.id == review_id).with_for_update()
            )
            if row is None:
                return DeleteOutcome.NOT_FOUND
            if author_id is not None and row.user_id != author_id:
                return DeleteOutcome.NOT_AUTHOR
            await session.execute(sa.delete(ReviewRow).where(ReviewRow.id == row.id))
            await self._adjust_summaries(session, {row.product_id: -contribution(row.rating, row.hidden)})
            return DeleteOutcome.DELETED

    async def delete_by_user(self, user_id: int) -> int:
        """Deletes every review of the user; returns how many there were."""
        async with self._db.write() as session:
            rows = list(
                await session.scalars(
                    sa.select(ReviewRow).where(ReviewRow.user_id == user_id).with_for_update()
                )
            )
            if not rows:
                return 0
            deltas: dict[int, Delta] = defaultdict(Delta)
            for row in rows:
                deltas[row.product_id] -= contribution(row.rating, row.hidden)
            # Exactly the rows locked above, so a review written meanwhile is not removed uncounted.
            await session.execute(sa.delete(ReviewRow).where(ReviewRow.id.in_([r.id for r in rows])))
            await self._adjust_summaries(session, deltas)
            return len(rows)

    async def summaries(self, product_ids: Sequence[int]) -> dict[int, Summary]:
        """The summaries that exist among `product_ids` (a hot read: one Core statement)."""
        if not product_ids:
            return {}
        rows = await self._db.fetch(_SUMMARIES, {"ids": sorted(set(product_ids))})
        return {
            row[0]: Summary(row[0], row[1], row[2], [row[3], row[4], row[5], row[6], row[7]]) for row in rows
        }

    async def _adjust_summaries(self, session: AsyncSession, deltas: Mapping[int, Delta]) -> None:
        """The one place summaries change: an atomic upsert adding each delta to its product's row.

        Products in id order, so concurrent transactions lock summary rows in the same order.
        """
        for product_id in sorted(deltas):
            delta = deltas[product_id]
            if not delta:
                continue
            h = delta.histogram
            values = {
                SummaryRow.product_id: product_id,
                SummaryRow.count: delta.count,
                SummaryRow.total: delta.total,
                SummaryRow.r1: h[0],
                SummaryRow.r2: h[1],
                SummaryRow.r3: h[2],
                SummaryRow.r4: h[3],
                SummaryRow.r5: h[4],
            }
            changes = {
                SummaryRow.count: SummaryRow.count + delta.count,
                SummaryRow.total: SummaryRow.total + delta.total,
                SummaryRow.r1: SummaryRow.r1 + h[0],
                SummaryRow.r2: SummaryRow.r2 + h[1],
                SummaryRow.r3: SummaryRow.r3 + h[2],
                SummaryRow.r4: SummaryRow.r4 + h[3],
                SummaryRow.r5: SummaryRow.r5 + h[4],
            }
            if self._db.is_sqlite:
                lite = sqlite.insert(SummaryRow).values(values)
                await session.execute(
                    lite.on_conflict_do_update(index_elements=[SummaryRow.product_id], set_=changes)
                )
            else:
                pg = postgresql.insert(SummaryRow).values(values)
                await session.execute(
                    pg.on_conflict_do_update(index_elements=[SummaryRow.product_id], set_=changes)
                )
