"""orders: payment_unsettled and restock_due, money and stock to give back later

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "orders_0003"
down_revision: str | None = "orders_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("payment_unsettled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("restock_due", sa.String(120), nullable=False, server_default=""))
    op.create_index("ix_orders_payment_unsettled", "orders", ["payment_unsettled", "id"])
    op.create_index("ix_orders_restock_due", "orders", ["restock_due", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_restock_due", "orders")
    op.drop_index("ix_orders_payment_unsettled", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("restock_due")
        batch.drop_column("payment_unsettled")
