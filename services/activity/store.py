"""Activity persistence: one append-only table of events, and the queries read from it.

Events arrive through RecordEvents or the Redis stream (`services/kit/activity_stream.py`). A stream
entry keeps its entry id in `source_id` (unique), so an entry delivered twice (a consumer that
crashed after the commit and before the XACK) is stored once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.activity_stream import EventType
from services.kit.database import Database
from shop.activity.v1 import activity_pb2

VIEWED = activity_pb2.EVENT_TYPE_PRODUCT_VIEWED
ORDERED = activity_pb2.EVENT_TYPE_ORDER_PLACED


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    __tablename__ = "activity_events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    type: Mapped[int] = mapped_column(sa.SmallInteger())
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    product_id: Mapped[int] = mapped_column(sa.BigInteger())
    query: Mapped[str] = mapped_column(sa.String(200), default="")
    quantity: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    attributes: Mapped[dict[str, str]] = mapped_column(sa.JSON(), default=dict)
    source_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)


@dataclass(frozen=True)
class NewEvent:
    type: EventType
    user_id: int
    product_id: int
    query: str
    quantity: int
    occurred_at: datetime
    attributes: dict[str, str]
    # The stream entry id, for events that came through the stream.
    source_id: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "type": int(self.type),
            "user_id": self.user_id,
            "product_id": self.product_id,
            "query": self.query,
            "quantity": self.quantity,
            "occurred_at": self.occurred_at,
            "attributes": self.attributes,
            "source_id": self.source_id,
        }


@dataclass(frozen=True)
class ViewedRow:
    product_id: int
    viewed_at: datetime


@dataclass(frozen=True)
class CountRow:
    product_id: int
    count: int


@dataclass(frozen=True)
class EventCursor:
    """Newest-first position: (occurred_at, id) of the last event on a page."""

    occurred_at: datetime
    id: int


@dataclass(frozen=True)
class ViewedCursor:
    viewed_at: datetime
    product_id: int


@dataclass(frozen=True)
class CountCursor:
    count: int
    product_id: int


# Which of these users' accounts were deleted: auth's revocation list (services.kit.revocation).
DeletedUsers = Callable[[Iterable[int]], Awaitable[set[int]]]


class ActivityStore:
    def __init__(self, db: Database, deleted_users: DeletedUsers | None = None) -> None:
        self._db = db
        self._deleted_users = deleted_users

    async def add(self, events: Sequence[NewEvent]) -> int:
        """Stores the events in one transaction (all or none); stream entries already stored are
        skipped. Returns how many were given."""
        if not events:
            return 0
        rows = [e.values() for e in events]
        insert: Any
        if self._db.is_sqlite:
            insert = sqlite.insert(EventRow).on_conflict_do_nothing(index_elements=[EventRow.source_id])
        else:
            insert = postgresql.insert(EventRow).on_conflict_do_nothing(index_elements=[EventRow.source_id])
        async with self._db.write() as session:
            await session.execute(insert, rows)
        await self._drop_deleted({e.user_id for e in events if e.user_id})
        return len(rows)

    async def _drop_deleted(self, user_ids: set[int]) -> None:
        """Events of an account deleted meanwhile go again. Checked after the write: auth lists a
        deletion before any service is asked to forget, so either this check sees it, or the
        forget step runs after the write and deletes the rows itself. Nothing slips between."""
        if self._deleted_users is None or not user_ids:
            return
        for user_id in await self._deleted_users(user_ids):
            await self.delete_user(user_id)

    async def user_events(
        self, user_id: int, types: Sequence[int], limit: int, after: EventCursor | None
    ) -> list[EventRow]:
        stmt = sa.select(EventRow).where(EventRow.user_id == user_id)
        if types:
            stmt = stmt.where(EventRow.type.in_(set(types)))
        if after is not None:
            stmt = stmt.where(
                sa.or_(
                    EventRow.occurred_at < after.occurred_at,
                    sa.and_(EventRow.occurred_at == after.occurred_at, EventRow.id < after.id),
                )
            )
        stmt = stmt.order_by(EventRow.occurred_at.desc(), EventRow.id.desc()).limit(limit)
        async with self._db.read() as session:
            return list(await session.scalars(stmt))

    async def recently_viewed(self, user_id: int, limit: int, after: ViewedCursor | None) -> list[ViewedRow]:
        last = sa.func.max(EventRow.occurred_at).label("last")
        stmt = (
            sa.select(EventRow.product_id, last)
            .where(EventRow.user_id == user_id, EventRow.type == VIEWED, EventRow.product_id > 0)
            .group_by(EventRow.product_id)
        )
        if after is not None:
            stmt = stmt.having(
                sa.or_(
                    last < after.viewed_at,
                    sa.and_(last == after.viewed_at, EventRow.product_id < after.product_id),
                )
            )
        stmt = stmt.order_by(last.desc(), EventRow.product_id.desc()).limit(limit)
        async with self._db.read() as session:
            result = await session.execute(stmt)
            return [ViewedRow(int(pid), at) for pid, at in result.all()]

    async def popular(
        self,
        event_type: int | None,
        start: datetime,
        end: datetime,
        limit: int,
        after: CountCursor | None,
    ) -> list[CountRow]:
        count = sa.func.count().label("n")
        stmt = sa.select(EventRow.product_id, count).where(
            EventRow.occurred_at >= start, EventRow.occurred_at < end, EventRow.product_id > 0
        )
        if event_type is not None:
            stmt = stmt.where(EventRow.type == event_type)
        stmt = stmt.group_by(EventRow.product_id)
        if after is not None:
            stmt = stmt.having(
                sa.or_(
                    count < after.count,
                    sa.and_(count == after.count, EventRow.product_id > after.product_id),
                )
            )
        stmt = stmt.order_by(count.desc(), EventRow.product_id.asc()).limit(limit)
        async with self._db.read() as session:
            result = await session.execute(stmt)
            return [CountRow(int(pid), int(n)) for pid, n in result.all()]

    async def related(self, product_id: int, event_type: int, limit: int) -> list[CountRow]:
        """Products with events of `event_type` by the signed-in users who had one on `product_id`,
        ranked by how many such users they share (co-occurrence), the product itself left out."""
        users = (
            sa.select(EventRow.user_id)
            .where(EventRow.product_id == product_id, EventRow.type == event_type, EventRow.user_id > 0)
            .distinct()
            .scalar_subquery()
        )
        score = sa.func.count(sa.distinct(EventRow.user_id)).label("score")
        stmt = (
            sa.select(EventRow.product_id, score)
            .where(
                EventRow.type == event_type,
                EventRow.user_id.in_(users),
                EventRow.product_id != product_id,
                EventRow.product_id > 0,
            )
            .group_by(EventRow.product_id)
            .order_by(score.desc(), EventRow.product_id.asc())
            .limit(limit)
        )
        async with self._db.read() as session:
            result = await session.execute(stmt)
            return [CountRow(int(pid), int(n)) for pid, n in result.all()]

    async def delete_user(self, user_id: int) -> int:
        async with self._db.write() as session:
            result = await session.execute(sa.delete(EventRow).where(EventRow.user_id == user_id))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge_before(self, cutoff: datetime, batch: int = 10_000) -> int:
        """Deletes events older than `cutoff`, in batches so no transaction grows unbounded."""
        total = 0
        while True:
            async with self._db.write() as session:
                old = sa.select(EventRow.id).where(EventRow.occurred_at < cutoff).limit(batch)
                result = await session.execute(
                    sa.delete(EventRow).where(EventRow.id.in_(old.scalar_subquery()))
                )
                deleted = int(result.rowcount)  # type: ignore[attr-defined]
            total += deleted
            if deleted < batch:
                return total
