"""Catalog persistence of products: rows, slugs and their history, categories of a product, images,
and the search index kept in step inside the same transactions. Deleted products are kept (orders
refer to them) but are no longer listed or sold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from services.kit import timestamps
from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import CatalogError, ImageSpec, Status, primary_index
from .search import Document, Query, Result, SearchBackend
from .tables import CategoryRow, ImageRow, ProductCategoryRow, ProductRow, ProductSlugRow

# An ORM row inside a write, a Core row (the same attributes) on the read path.
ProductData = ProductRow | sa.Row[Any]
ImageData = ImageRow | sa.Row[Any]


@dataclass(frozen=True)
class Product:
    """A product row with what hangs off it."""

    row: ProductData
    category_ids: list[int] = field(default_factory=list)
    images: Sequence[ImageData] = field(default_factory=list)


@dataclass(frozen=True)
class NewProduct:
    name: str
    description: str
    price_minor: int
    currency: str
    weight_grams: int
    slug: str
    sku: str | None
    status: Status
    category_ids: list[int]
    # The slug was made from the name: when taken, it gets the id as a suffix instead of failing.
    slug_generated: bool = False


@dataclass(frozen=True)
class ProductChanges:
    name: str | None = None
    description: str | None = None
    price_minor: int | None = None
    currency: str | None = None
    weight_grams: int | None = None
    slug: str | None = None
    # "" clears the SKU.
    sku: str | None = None
    status: Status | None = None
    category_ids: list[int] | None = None


@dataclass(frozen=True)
class Signals:
    in_stock: bool | None = None
    rating_average: float | None = None
    rating_count: int | None = None
    popularity: int | None = None


def _document(row: ProductRow) -> Document:
    return Document(row.name, row.description, row.sku or "", row.status == Status.ACTIVE)


def _live(product_id: int) -> sa.Select[ProductRow]:
    """A product not deleted, in any of the statuses (the writers' view)."""
    return sa.select(ProductRow).where(
        ProductRow.id == product_id, ProductRow.deleted_at.is_(None), ProductRow.status.in_(list(Status))
    )


_Reads = tuple[Executable, Executable, Executable]


def _reads(which: sa.ColumnElement[bool]) -> _Reads:
    """A product's row, categories and images for the products `which` picks (with the bound
    parameter `statuses`). Built once: a statement built per call costs more CPU in SQLAlchemy
    (construction and its cache key) than running it does."""
    conditions = (
        which,
        ProductRow.deleted_at.is_(None),
        ProductRow.status.in_(sa.bindparam("statuses", expanding=True)),
    )
    live = sa.select(ProductRow.id).where(*conditions)
    return (
        sa.select(*ProductRow.__table__.columns).where(*conditions).order_by(ProductRow.id),
        sa.select(ProductCategoryRow.product_id, ProductCategoryRow.category_id)
        .where(ProductCategoryRow.product_id.in_(live))
        .order_by(ProductCategoryRow.category_id),
        sa.select(*ImageRow.__table__.columns)
        .where(ImageRow.product_id.in_(live))
        .order_by(ImageRow.position),
    )


_BY_ID = _reads(ProductRow.id == sa.bindparam("id"))
_BY_IDS = _reads(ProductRow.id.in_(sa.bindparam("ids", expanding=True)))
_SLUG_OWNER = sa.select(ProductSlugRow.product_id).where(ProductSlugRow.slug == sa.bindparam("slug"))
_BY_SLUG = _reads(ProductRow.id == _SLUG_OWNER.scalar_subquery())


class CatalogStore:
    def __init__(self, db: Database, search: SearchBackend) -> None:
        self._db = db
        self._search = search

    # --- writes ------------------------------------------------------------------------------
    async def create(self, new: NewProduct) -> Product:
        at = timestamps.now()
        async with self._db.write() as session:
            slug = new.slug
            if new.slug_generated and await self._slug_owner(session, slug) is not None:
                slug = f"{slug}-{uuid4().hex}"  # replaced by "<slug>-<id>" once the id is known
            else:
                await self._slug_free(session, slug, None)
            await self._sku_free(session, new.sku, None)
            await self._categories_exist(session, new.category_ids)
            row = ProductRow(
                name=new.name,
                description=new.description,
                price_minor=new.price_minor,
                currency=new.currency,
                weight_grams=new.weight_grams,
                slug=slug,
                sku=new.sku,
                status=new.status.value,
                in_stock=False,
                rating_average=0.0,
                rating_count=0,
                popularity=0,
                created_at=at,
                updated_at=at,
            )
            session.add(row)
            await session.flush()
            if slug != new.slug:
                row.slug = f"{new.slug}-{row.id}"
                if await self._slug_owner(session, row.slug) is not None:
                    row.slug = f"{new.slug}-{row.id}-{uuid4().hex[:8]}"
            session.add(ProductSlugRow(slug=row.slug, product_id=row.id))
            await self._set_categories(session, row.id, new.category_ids)
            await self._search.index(session, row.id, None, _document(row))
            product = await self._load(session, row)
        self._search.changed([product.row.id])
        return product

    async def update(
        self,
        product_id: int,
        changes: ProductChanges,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> Product:
        """Applies the changes; then `then`, inside the same transaction: if it fails, none of the
        changes are kept. With `then` and no changes, the product itself is left as it was."""
        async with self._db.write() as session:
            row = await session.scalar(_live(product_id))
            if row is None:
                raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {product_id} not found")
            if then is None or changes != ProductChanges():
                await self._change(session, row, changes)
            if then is not None:
                await then()
            product = await self._load(session, row)
        self._search.changed([product_id])
        return product

    async def _change(self, session: AsyncSession, row: ProductRow, changes: ProductChanges) -> None:
        product_id = row.id
        before = _document(row)
        if changes.slug is not None and changes.slug != row.slug:
            await self._slug_free(session, changes.slug, product_id)
            if await session.get(ProductSlugRow, changes.slug) is None:
                session.add(ProductSlugRow(slug=changes.slug, product_id=product_id))
            row.slug = changes.slug
        if changes.sku is not None:
            sku = changes.sku or None
            await self._sku_free(session, sku, product_id)
            row.sku = sku
        for name in ("name", "description", "price_minor", "currency", "weight_grams"):
            value = getattr(changes, name)
            if value is not None:
                setattr(row, name, value)
        if changes.status is not None:
            row.status = changes.status.value
        if changes.category_ids is not None:
            await self._categories_exist(session, changes.category_ids)
            await session.execute(
                sa.delete(ProductCategoryRow).where(ProductCategoryRow.product_id == product_id)
            )
            await self._set_categories(session, product_id, changes.category_ids)
        row.updated_at = timestamps.now()
        await session.flush()
        await self._search.index(session, product_id, before, _document(row))

    async def delete(self, product_id: int) -> bool:
        async with self._db.write() as session:
            row = await session.scalar(_live(product_id))
            if row is None:
                return False
            row.deleted_at = timestamps.now()
            await self._search.index(session, product_id, _document(row), None)
        self._search.changed([product_id])
        return True

    async def set_images(self, product_id: int, images: Sequence[ImageSpec]) -> Product:
        try:
            primary = primary_index(images)
        except ValueError as exc:
            raise DomainError(CatalogError.INVALID_IMAGES, str(exc)) from None
        async with self._db.write() as session:
            row = await session.scalar(_live(product_id))
            if row is None:
                raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {product_id} not found")
            await session.execute(sa.delete(ImageRow).where(ImageRow.product_id == product_id))
            for position, image in enumerate(images):
                session.add(
                    ImageRow(
                        product_id=product_id,
                        url=image.url,
                        alt_text=image.alt_text,
                        position=position,
                        is_primary=position == primary,
                    )
                )
            row.updated_at = timestamps.now()
            await session.flush()
            return await self._load(session, row)

    async def set_signals(self, product_id: int, signals: Signals) -> bool:
        values = {k: v for k, v in signals.__dict__.items() if v is not None}
        if not values:
            return await self.get(product_id, list(Status)) is not None
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(ProductRow)
                .where(ProductRow.id == product_id, ProductRow.deleted_at.is_(None))
                .values(**values)
            )
        self._search.changed([product_id], text=False)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def signals_changed(self, product_ids: Sequence[int]) -> None:
        """A signals pass of this process committed changes to these products."""
        self._search.changed(product_ids, text=False)

    def tree_changed(self) -> None:
        self._search.tree_changed()

    async def warm(self) -> None:
        await self._search.warm()

    # --- reads -------------------------------------------------------------------------------
    async def get(self, product_id: int, statuses: Sequence[str]) -> Product | None:
        found = await self._fetch(_BY_ID, statuses, id=product_id)
        return found[0] if found else None

    async def get_by_slug(self, slug: str, statuses: Sequence[str]) -> Product | None:
        found = await self._fetch(_BY_SLUG, statuses, slug=slug)
        return found[0] if found else None

    async def get_many(self, ids: Sequence[int], statuses: Sequence[str]) -> list[Product]:
        if not ids:
            return []
        return await self._fetch(_BY_IDS, statuses, ids=sorted(set(ids)))

    async def in_order(self, ids: Sequence[int], statuses: Sequence[str]) -> list[Product]:
        """The products of `ids` in that order (ids of products gone meanwhile are left out)."""
        by_id = {p.row.id: p for p in await self.get_many(ids, statuses)}
        return [by_id[i] for i in ids if i in by_id]

    async def list_page(
        self, limit: int, after: int | None, query: str, statuses: tuple[str, ...]
    ) -> list[Product]:
        ids = await self._search.list_ids(query, statuses, after, limit)
        return await self.in_order(ids, statuses)

    async def search(self, query: Query) -> Result:
        return await self._search.search(query)

    # --- helpers -----------------------------------------------------------------------------
    async def _fetch(self, reads: _Reads, statuses: Sequence[str], **params: Any) -> list[Product]:
        """The live products `reads` picks, in id order, with their categories and images: three
        Core statements on one connection, no ORM session or transaction (the hot read path)."""
        rows, members, images = await self._db.fetch_each(
            *reads, params={"statuses": list(statuses), **params}
        )
        categories: dict[int, list[int]] = {r.id: [] for r in rows}
        pictures: dict[int, list[ImageData]] = {r.id: [] for r in rows}
        for product_id, category_id in members:
            categories.get(product_id, []).append(category_id)
        for image in images:
            pictures.get(image.product_id, []).append(image)
        return [Product(r, categories[r.id], pictures[r.id]) for r in rows]

    async def _load(self, session: AsyncSession, row: ProductRow) -> Product:
        """The product a write just changed, with its categories and images, read in the writer's
        own transaction (the read path is `_fetch`)."""
        categories = await session.scalars(
            sa.select(ProductCategoryRow.category_id)
            .where(ProductCategoryRow.product_id == row.id)
            .order_by(ProductCategoryRow.category_id)
        )
        images = await session.scalars(
            sa.select(ImageRow).where(ImageRow.product_id == row.id).order_by(ImageRow.position)
        )
        return Product(row, list(categories), list(images))

    async def _slug_free(self, session: AsyncSession, slug: str, product_id: int | None) -> None:
        """A slug belongs to one product forever (old links keep working), so it is free only if
        no other product ever had it."""
        owner = await self._slug_owner(session, slug)
        if owner is not None and owner != product_id:
            raise DomainError(CatalogError.SLUG_TAKEN, f"slug {slug!r} is taken")

    async def _slug_owner(self, session: AsyncSession, slug: str) -> int | None:
        owner: int | None = await session.scalar(
            sa.select(ProductSlugRow.product_id).where(ProductSlugRow.slug == slug)
        )
        return owner

    async def _sku_free(self, session: AsyncSession, sku: str | None, product_id: int | None) -> None:
        if sku is None:
            return
        owner = await session.scalar(sa.select(ProductRow.id).where(ProductRow.sku == sku))
        if owner is not None and owner != product_id:
            raise DomainError(CatalogError.SKU_TAKEN, f"SKU {sku!r} is taken")

    async def _categories_exist(self, session: AsyncSession, category_ids: Sequence[int]) -> None:
        wanted = set(category_ids)
        if not wanted:
            return
        found = set(await session.scalars(sa.select(CategoryRow.id).where(CategoryRow.id.in_(wanted))))
        if missing := sorted(wanted - found):
            raise DomainError(CatalogError.CATEGORY_NOT_FOUND, f"category {missing[0]} not found")

    async def _set_categories(
        self, session: AsyncSession, product_id: int, category_ids: Sequence[int]
    ) -> None:
        for category_id in sorted(set(category_ids)):
            session.add(ProductCategoryRow(product_id=product_id, category_id=category_id))
