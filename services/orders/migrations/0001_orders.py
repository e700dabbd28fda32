"""orders, order_lines, order_events

Revision ID: orders_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "orders_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("shipping_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_key"),
    )
    op.create_index("ix_orders_user", "orders", ["user_id", "id"])
    op.create_index("ix_orders_status", "orders", ["status", "id"])
    op.create_table(
        "order_lines",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("order_id", _ID, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_order_lines_order", "order_lines", ["order_id"])
    op.create_table(
        "order_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("order_id", _ID, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_order_events_order", "order_events", ["order_id", "id"])


def downgrade() -> None:
    op.drop_table("order_events")
    op.drop_table("order_lines")
    op.drop_table("orders")
