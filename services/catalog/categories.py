"""The category tree's persistence: a materialised path per category ("/1/4/") makes "this
category and its descendants" one prefix match, and a move one rewrite of the subtree's paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import timestamps
from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import CatalogError, child_path, is_within
from .tables import CategoryRow, ProductCategoryRow


@dataclass(frozen=True)
class CategoryChanges:
    name: str | None = None
    slug: str | None = None
    # 0 moves it to the top level; None leaves it where it is.
    parent_id: int | None = None
    position: int | None = None


class CategoryStore:
    def __init__(self, db: Database, changed: Callable[[], None] | None = None) -> None:
        self._db = db
        # Told after each committed change to the tree (the listing index).
        self._changed = changed or (lambda: None)

    async def create(
        self, name: str, slug: str, parent_id: int, position: int, *, slug_generated: bool = False
    ) -> CategoryRow:
        """A slug made from the name gets the id as a suffix when taken ("lamps-12")."""
        at = timestamps.now()
        async with self._db.write() as session:
            parent_path = await self._parent_path(session, parent_id)
            taken = await self._slug_owner(session, slug) is not None
            if not (slug_generated and taken):
                await self._slug_free(session, slug, None)
            row = CategoryRow(
                name=name,
                slug=f"{slug}-{uuid4().hex}" if taken else slug,
                parent_id=parent_id or None,
                position=position,
                path="/",
                created_at=at,
                updated_at=at,
            )
            session.add(row)
            await session.flush()
            row.path = child_path(parent_path, row.id)
            if taken:
                row.slug = f"{slug}-{row.id}"
                if await self._slug_owner(session, row.slug) is not None:
                    row.slug = f"{slug}-{row.id}-{uuid4().hex[:8]}"
        self._changed()
        return row

    async def update(self, category_id: int, changes: CategoryChanges) -> CategoryRow:
        async with self._db.write() as session:
            row = await self._get(session, category_id)
            if changes.slug is not None and changes.slug != row.slug:
                await self._slug_free(session, changes.slug, category_id)
                row.slug = changes.slug
            if changes.name is not None:
                row.name = changes.name
            if changes.position is not None:
                row.position = changes.position
            if changes.parent_id is not None and changes.parent_id != (row.parent_id or 0):
                parent_path = await self._parent_path(session, changes.parent_id)
                if is_within(parent_path, row.path):
                    raise DomainError(CatalogError.CATEGORY_CYCLE)
                old_path, new_path = row.path, child_path(parent_path, row.id)
                # The whole subtree's paths move with it, in this one transaction.
                await session.execute(
                    sa.update(CategoryRow)
                    .where(CategoryRow.path.startswith(old_path))
                    .values(
                        path=sa.literal(new_path, sa.String()).concat(
                            sa.func.substr(CategoryRow.path, len(old_path) + 1)
                        )
                    )
                    .execution_options(synchronize_session=False)
                )
                row.parent_id = changes.parent_id or None
                row.path = new_path
            row.updated_at = timestamps.now()
        self._changed()
        return row

    async def delete(self, category_id: int) -> None:
        """Refused while it has subcategories (move or delete them first); its products stay
        and only leave this category."""
        async with self._db.write() as session:
            row = await self._get(session, category_id)
            child = await session.scalar(
                sa.select(CategoryRow.id).where(CategoryRow.parent_id == category_id).limit(1)
            )
            if child is not None:
                raise DomainError(CatalogError.CATEGORY_HAS_CHILDREN)
            await session.execute(
                sa.delete(ProductCategoryRow).where(ProductCategoryRow.category_id == category_id)
            )
            await session.delete(row)
        self._changed()

    async def get(self, category_id: int) -> CategoryRow:
        async with self._db.read() as session:
            return await self._get(session, category_id)

    async def all(self) -> list[CategoryRow]:
        """Parents before children, siblings by position then id."""
        async with self._db.read() as session:
            rows = list(await session.scalars(sa.select(CategoryRow)))
        children: dict[int | None, list[CategoryRow]] = {}
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        ordered: list[CategoryRow] = []

        def walk(parent: int | None) -> None:
            for row in sorted(children.get(parent, []), key=lambda r: (r.position, r.id)):
                ordered.append(row)
                walk(row.id)

        walk(None)
        return ordered

    async def _get(self, session: AsyncSession, category_id: int) -> CategoryRow:
        row = await session.get(CategoryRow, category_id)
        if row is None:
            raise DomainError(CatalogError.CATEGORY_NOT_FOUND, f"category {category_id} not found")
        return row

    async def _parent_path(self, session: AsyncSession, parent_id: int) -> str:
        if not parent_id:
            return "/"
        parent = await session.get(CategoryRow, parent_id)
        if parent is None:
            raise DomainError(CatalogError.CATEGORY_NOT_FOUND, f"parent category {parent_id} not found")
        return parent.path

    async def _slug_free(self, session: AsyncSession, slug: str, category_id: int | None) -> None:
        owner = await self._slug_owner(session, slug)
        if owner is not None and owner != category_id:
            raise DomainError(CatalogError.SLUG_TAKEN, f"slug {slug!r} is taken")

    async def _slug_owner(self, session: AsyncSession, slug: str) -> int | None:
        owner: int | None = await session.scalar(sa.select(CategoryRow.id).where(CategoryRow.slug == slug))
        return owner
