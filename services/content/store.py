"""Content persistence: posts (with a tag index for filtering) and banners.

Slugs are unique in the database (`uq_posts_slug`); a derived slug takes the first free `-<n>`
suffix, and an insert that loses a race for it retries with the next one. Deleting is for good,
so a deleted post's slug is free again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.database import Database, added, escape_like

from .domain import BannerCursor, Clock, PostCursor, first_free

# How often a derived slug is retried when concurrent creates keep taking the chosen one.
_SLUG_ATTEMPTS = 5

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class PostStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class PostRow(Base):
    __tablename__ = "posts"
    __table_args__ = (sa.UniqueConstraint("slug", name="uq_posts_slug"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(200))
    body_markdown: Mapped[str] = mapped_column(sa.Text())
    body_html: Mapped[str] = mapped_column(sa.Text())
    author_id: Mapped[int] = mapped_column(sa.BigInteger())
    author_name: Mapped[str] = mapped_column(sa.String(100))
    tags: Mapped[list[str]] = mapped_column(sa.JSON())
    status: Mapped[str] = mapped_column(sa.String(16))
    # Unset until first published; kept when unpublished.
    publish_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # The listing key: publish_at once set, else created_at.
    sort_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    @property
    def published(self) -> bool:
        return self.status == PostStatus.PUBLISHED


class PostTagRow(Base):
    __tablename__ = "post_tags"

    post_id: Mapped[int] = mapped_column(
        _ID, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    tag: Mapped[str] = mapped_column(sa.String(40), primary_key=True)


class BannerRow(Base):
    __tablename__ = "banners"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    image_url: Mapped[str] = mapped_column(sa.String(2000))
    link_url: Mapped[str] = mapped_column(sa.String(2000))
    placement: Mapped[str] = mapped_column(sa.String(40))
    start_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    end_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    priority: Mapped[int] = mapped_column(sa.Integer())
    active: Mapped[bool] = mapped_column(sa.Boolean())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


@dataclass(frozen=True)
class NewPost:
    title: str
    body_markdown: str
    body_html: str
    author_id: int
    author_name: str
    tags: list[str]


@dataclass(frozen=True)
class PostChanges:
    slug: str | None = None
    title: str | None = None
    body_markdown: str | None = None
    body_html: str | None = None
    author_name: str | None = None
    tags: list[str] | None = None


@dataclass(frozen=True)
class NewBanner:
    title: str
    image_url: str
    link_url: str
    placement: str
    start_at: datetime | None
    end_at: datetime | None
    priority: int
    active: bool


@dataclass(frozen=True)
class BannerChanges:
    title: str | None = None
    image_url: str | None = None
    link_url: str | None = None
    placement: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    priority: int | None = None
    active: bool | None = None


class SlugTaken(Exception):
    """The explicitly requested slug belongs to another post."""


def _live_posts(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(PostRow.status == PostStatus.PUBLISHED.value, PostRow.publish_at <= now)


def _live_banners(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        BannerRow.active == sa.true(),
        sa.or_(BannerRow.start_at.is_(None), BannerRow.start_at <= now),
        sa.or_(BannerRow.end_at.is_(None), BannerRow.end_at > now),
    )


class ContentStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- posts --------------------------------------------------------------------------------

    async def create_post(self, post: NewPost, slug: str | None, derived_from: str) -> PostRow:
        """Inserts a draft. With `slug`, exactly that one (SlugTaken when used); else the first
        free one of `derived_from`, `derived_from-2`, ..."""
        async with self._db.write() as session:
            for _ in range(_SLUG_ATTEMPTS):
                candidate = slug or await self._free_slug(session, derived_from)
                at = self._clock()
                row = PostRow(
                    slug=candidate,
                    title=post.title,
                    body_markdown=post.body_markdown,
                    body_html=post.body_html,
                    author_id=post.author_id,
                    author_name=post.author_name,
                    tags=post.tags,
                    status=PostStatus.DRAFT.value,
                    publish_at=None,
                    sort_at=at,
                    created_at=at,
                    updated_at=at,
                )
                if not await added(session, row):
                    if slug:
                        raise SlugTaken(slug)
                    continue  # a concurrent create took this suffix: take the next free one
                await self._set_tags(session, row.id, post.tags)
                return row
        raise SlugTaken(derived_from)

    async def _free_slug(self, session: AsyncSession, base: str) -> str:
        taken = await session.scalars(
            sa.select(PostRow.slug).where(
                sa.or_(PostRow.slug == base, PostRow.slug.like(f"{escape_like(base)}-%", escape="\\"))
            )
        )
        return first_free(base, taken)

    async def _set_tags(self, session: AsyncSession, post_id: int, tags: Sequence[str]) -> None:
        await session.execute(sa.delete(PostTagRow).where(PostTagRow.post_id == post_id))
        if tags:
            await session.execute(sa.insert(PostTagRow), [{"post_id": post_id, "tag": t} for t in tags])

    async def get_post(self, post_id: int) -> PostRow | None:
        async with self._db.read() as session:
            return await session.get(PostRow, post_id)

    async def get_post_by_slug(self, slug: str) -> PostRow | None:
        async with self._db.read() as session:
            return await session.scalar(sa.select(PostRow).where(PostRow.slug == slug))

    async def list_posts(
        self, limit: int, after: PostCursor | None, tag: str, live_at: datetime | None
    ) -> list[PostRow]:
        """Newest first; with `live_at`, only posts published and due at that time."""
        stmt = sa.select(PostRow)
        if live_at is not None:
            stmt = stmt.where(_live_posts(live_at))
        if tag:
            stmt = stmt.where(PostRow.id.in_(sa.select(PostTagRow.post_id).where(PostTagRow.tag == tag)))
        if after is not None:
            stmt = stmt.where(
                sa.or_(
                    PostRow.sort_at < after.at,
                    sa.and_(PostRow.sort_at == after.at, PostRow.id < after.id),
                )
            )
        stmt = stmt.order_by(PostRow.sort_at.desc(), PostRow.id.desc()).limit(limit)
        async with self._db.read() as session:
            return list(await session.scalars(stmt))

    async def update_post(self, post_id: int, changes: PostChanges) -> PostRow | None:
        """Changes the given fields; SlugTaken when a new slug belongs to another post."""
        async with self._db.write() as session:
            row = await session.scalar(sa.select(PostRow).where(PostRow.id == post_id).with_for_update())
            if row is None:
                return None
            values: dict[str, Any] = {k: v for k, v in changes.__dict__.items() if v is not None}
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = self._clock()
            try:
                async with session.begin_nested():
                    await session.flush()
            except IntegrityError:
                raise SlugTaken(changes.slug or "") from None
            if changes.tags is not None:
                await self._set_tags(session, row.id, changes.tags)
            return row

    async def publish_post(self, post_id: int, at: datetime) -> PostRow | None:
        """Published from `at` on (a future `at` schedules it)."""
        async with self._db.write() as session:
            row = await session.scalar(sa.select(PostRow).where(PostRow.id == post_id).with_for_update())
            if row is None:
                return None
            row.status = PostStatus.PUBLISHED.value
            row.publish_at = at
            row.sort_at = at
            row.updated_at = self._clock()
            return row

    async def unpublish_post(self, post_id: int) -> PostRow | None:
        async with self._db.write() as session:
            row = await session.scalar(sa.select(PostRow).where(PostRow.id == post_id).with_for_update())
            if row is None:
                return None
            row.status = PostStatus.DRAFT.value
            row.updated_at = self._clock()
            return row

    async def delete_post(self, post_id: int) -> bool:
        async with self._db.write() as session:
            await session.execute(sa.delete(PostTagRow).where(PostTagRow.post_id == post_id))
            result = await session.execute(sa.delete(PostRow).where(PostRow.id == post_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- banners ------------------------------------------------------------------------------

    async def create_banner(self, banner: NewBanner) -> BannerRow:
        at = self._clock()
        row = BannerRow(**banner.__dict__, created_at=at, updated_at=at)
        async with self._db.write() as session:
            session.add(row)
        return row

    async def get_banner(self, banner_id: int) -> BannerRow | None:
        async with self._db.read() as session:
            return await session.get(BannerRow, banner_id)

    async def list_banners(
        self, limit: int, after: BannerCursor | None, placement: str, live_at: datetime | None
    ) -> list[BannerRow]:
        """Highest priority first, then newest; with `live_at`, only banners live at that time."""
        stmt = sa.select(BannerRow)
        if live_at is not None:
            stmt = stmt.where(_live_banners(live_at))
        if placement:
            stmt = stmt.where(BannerRow.placement == placement)
        if after is not None:
            newer = sa.or_(
                BannerRow.created_at < after.created_at,
                sa.and_(BannerRow.created_at == after.created_at, BannerRow.id < after.id),
            )
            stmt = stmt.where(
                sa.or_(
                    BannerRow.priority < after.priority,
                    sa.and_(BannerRow.priority == after.priority, newer),
                )
            )
        stmt = stmt.order_by(BannerRow.priority.desc(), BannerRow.created_at.desc(), BannerRow.id.desc())
        async with self._db.read() as session:
            return list(await session.scalars(stmt.limit(limit)))

    async def update_banner(
        self, banner_id: int, changes: BannerChanges, check: Callable[[BannerRow], None] | None = None
    ) -> BannerRow | None:
        """Changes the given fields; `check(row)` may reject the result (it runs before commit)."""
        async with self._db.write() as session:
            row = await session.scalar(
                sa.select(BannerRow).where(BannerRow.id == banner_id).with_for_update()
            )
            if row is None:
                return None
            for key, value in changes.__dict__.items():
                if value is not None:
                    setattr(row, key, value)
            if check is not None:
                check(row)
            row.updated_at = self._clock()
            return row

    async def delete_banner(self, banner_id: int) -> bool:
        async with self._db.write() as session:
            result = await session.execute(sa.delete(BannerRow).where(BannerRow.id == banner_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]
