"""The catalog's tables (migrations/ holds their history): products with their slugs, categories and
images, and the search vocabulary. Deleted products are kept (orders refer to them) but are no longer
listed or sold. The full-text index itself is backend-specific (search/)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    weight_grams: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    slug: Mapped[str] = mapped_column(sa.String(220))
    sku: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    in_stock: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    rating_average: Mapped[float] = mapped_column(sa.Float(), default=0.0)
    rating_count: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    popularity: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class ProductSlugRow(Base):
    """Every slug a product ever had (its current one too): old links keep finding it."""

    __tablename__ = "product_slugs"

    slug: Mapped[str] = mapped_column(sa.String(220), primary_key=True)
    product_id: Mapped[int] = mapped_column(ID, sa.ForeignKey("products.id"))


class CategoryRow(Base):
    __tablename__ = "categories"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ID, sa.ForeignKey("categories.id"), nullable=True)
    position: Mapped[int] = mapped_column(sa.Integer(), default=0)
    # "/1/4/": the ids from the root down to this one; a subtree is a prefix match.
    path: Mapped[str] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ProductCategoryRow(Base):
    __tablename__ = "product_categories"

    product_id: Mapped[int] = mapped_column(ID, sa.ForeignKey("products.id"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ID, sa.ForeignKey("categories.id"), primary_key=True)


class ImageRow(Base):
    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    product_id: Mapped[int] = mapped_column(ID, sa.ForeignKey("products.id"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    alt_text: Mapped[str] = mapped_column(sa.String(300), default="")
    position: Mapped[int] = mapped_column(sa.Integer())
    is_primary: Mapped[bool] = mapped_column(sa.Boolean())


class SearchTermRow(Base):
    """A word of some active product's name, description or SKU, with how many use it."""

    __tablename__ = "search_terms"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    term: Mapped[str] = mapped_column(
        sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql")
    )
    products: Mapped[int] = mapped_column(sa.BigInteger())
