"""orders: reservation, shipping address and method, shipment

Revision ID: orders_0002
Revises: orders_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "orders_0002"
down_revision: str | None = "orders_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("reservation_id", sa.String(36), nullable=False, server_default=""))
        # The shipping address as JSON (the fields of shop.common.v1.Address); "" when none.
        batch.add_column(sa.Column("shipping_address", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("shipping_method", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("shipment_id", sa.String(64), nullable=False, server_default=""))
        # Paid with an address but no shipment yet (shipping was down): the recovery pass retries.
        batch.add_column(sa.Column("needs_shipment", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_orders_needs_shipment", "orders", ["needs_shipment", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_needs_shipment", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("needs_shipment")
        batch.drop_column("shipment_id")
        batch.drop_column("shipping_method")
        batch.drop_column("shipping_address")
        batch.drop_column("reservation_id")
