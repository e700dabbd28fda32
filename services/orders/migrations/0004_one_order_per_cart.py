"""orders: cart_version, so one cart makes at most one live order

Revision ID: orders_0004
Revises: orders_0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "orders_0004"
down_revision: str | None = "orders_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDS_CART = sa.text("cart_version IS NOT NULL AND status NOT IN ('failed', 'cancelled')")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("cart_version", sa.String(64), nullable=True))
    op.create_index(
        "uq_orders_user_cart",
        "orders",
        ["user_id", "cart_version"],
        unique=True,
        sqlite_where=_HOLDS_CART,
        postgresql_where=_HOLDS_CART,
    )


def downgrade() -> None:
    op.drop_index("uq_orders_user_cart", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("cart_version")
