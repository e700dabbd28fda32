"""stock levels, movements, reservations

Revision ID: inventory_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inventory_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("product_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("low_stock_threshold", sa.BigInteger(), nullable=False, server_default="5"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # The guarded UPDATEs keep these true; the checks are the last line of defence.
        sa.CheckConstraint("reserved >= 0", name="ck_stock_levels_reserved_not_negative"),
        sa.CheckConstraint("on_hand >= reserved", name="ck_stock_levels_reserved_within_on_hand"),
        sa.CheckConstraint("low_stock_threshold >= 0", name="ck_stock_levels_threshold_not_negative"),
    )

    op.create_table(
        "stock_movements",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("resulting_on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("reference", sa.String(200), nullable=False, server_default=""),
        sa.Column("actor", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stock_movements_product", "stock_movements", ["product_id", "id"])
    # Idempotency of AdjustStock (and of commits): one movement per reference and product.
    op.create_index(
        "uq_stock_movements_reference",
        "stock_movements",
        ["reference", "product_id"],
        unique=True,
        sqlite_where=sa.text("reference <> ''"),
        postgresql_where=sa.text("reference <> ''"),
    )

    op.create_table(
        "reservations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("order_reference", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_reference", name="uq_reservations_order_reference"),
    )
    # For the expiry sweeper: held reservations by expiry.
    op.create_index("ix_reservations_state_expire", "reservations", ["state", "expire_at"])

    op.create_table(
        "reservation_lines",
        sa.Column(
            "reservation_id",
            sa.String(36),
            sa.ForeignKey("reservations.id", name="fk_reservation_lines_reservation"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.BigInteger(), primary_key=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_lines_quantity_positive"),
    )


def downgrade() -> None:
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("stock_movements")
    op.drop_table("stock_levels")
