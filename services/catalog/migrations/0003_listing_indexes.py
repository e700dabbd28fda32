"""indexes for listings at 100,000 products

Revision ID: catalog_0003
Revises: catalog_0002
Create Date: 2026-12-01

`ix_products_listing` covers the live-product filter (status, not deleted) and the columns the other
filters and the price and stock facets read: a listing's total and those facets count this small
index instead of every product row. `ix_products_rating` / `ix_products_popularity` serve the rating
and popularity sorts without sorting every match.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "catalog_0003"
down_revision: str | None = "catalog_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_products_listing": ["status", "deleted_at", "in_stock", "price_minor", "rating_average"],
    "ix_products_rating": ["status", "rating_average", "id"],
    "ix_products_popularity": ["status", "popularity", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "products", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "products")
