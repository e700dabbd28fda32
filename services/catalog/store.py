"""Catalog persistence: the products table. Deleted products are kept (orders refer to them)
but are no longer listed or sold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database, contains_text


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    weight_grams: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class ProductChanges:
    name: str | None = None
    description: str | None = None
    price_minor: int | None = None
    currency: str | None = None
    weight_grams: int | None = None


class CatalogStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, name: str, description: str, price_minor: int, currency: str, weight_grams: int
    ) -> ProductRow:
        at = timestamps.now()
        row = ProductRow(
            name=name,
            description=description,
            price_minor=price_minor,
            currency=currency,
            weight_grams=weight_grams,
            created_at=at,
            updated_at=at,
        )
        async with self._db.write() as session:
            session.add(row)
        return row

    async def get(self, product_id: int) -> ProductRow | None:
        async with self._db.read() as session:
            return await session.scalar(
                sa.select(ProductRow).where(ProductRow.id == product_id, ProductRow.deleted_at.is_(None))
            )

    async def get_many(self, ids: list[int]) -> list[ProductRow]:
        if not ids:
            return []
        async with self._db.read() as session:
            rows = await session.scalars(
                sa.select(ProductRow)
                .where(ProductRow.id.in_(set(ids)), ProductRow.deleted_at.is_(None))
                .order_by(ProductRow.id)
            )
            return list(rows)

    async def list(self, limit: int, after: int | None, query: str) -> list[ProductRow]:
        stmt = sa.select(ProductRow).where(ProductRow.deleted_at.is_(None))
        if after is not None:
            stmt = stmt.where(ProductRow.id > after)
        if query:
            stmt = stmt.where(contains_text(query, ProductRow.name, ProductRow.description))
        async with self._db.read() as session:
            return list(await session.scalars(stmt.order_by(ProductRow.id).limit(limit)))

    async def update(self, product_id: int, changes: ProductChanges) -> ProductRow | None:
        values = {k: v for k, v in changes.__dict__.items() if v is not None}
        async with self._db.write() as session:
            row = await session.scalar(
                sa.select(ProductRow).where(ProductRow.id == product_id, ProductRow.deleted_at.is_(None))
            )
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = timestamps.now()
        return row

    async def delete(self, product_id: int) -> bool:
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(ProductRow)
                .where(ProductRow.id == product_id, ProductRow.deleted_at.is_(None))
                .values(deleted_at=timestamps.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
