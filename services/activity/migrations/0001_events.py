"""activity events

Revision ID: activity_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "activity_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("query", sa.String(200), nullable=False, server_default=""),
        sa.Column("quantity", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=True),
        sqlite_autoincrement=True,
    )
    # A stream entry is stored once however often it is delivered.
    op.create_index("uq_activity_events_source", "activity_events", ["source_id"], unique=True)
    # A user's events newest first (ListUserEvents) and their views (ListRecentlyViewed).
    op.create_index("ix_activity_events_user", "activity_events", ["user_id", "occurred_at", "id"])
    op.create_index(
        "ix_activity_events_user_type", "activity_events", ["user_id", "type", "product_id", "occurred_at"]
    )
    # Popular products in a window, per type; also the retention purge (leading occurred_at).
    op.create_index("ix_activity_events_time", "activity_events", ["occurred_at", "type", "product_id"])
    # Recommendations: who had an event of a type on a product.
    op.create_index("ix_activity_events_product", "activity_events", ["product_id", "type", "user_id"])
    op.create_index("ix_activity_events_type_user", "activity_events", ["type", "user_id", "product_id"])


def downgrade() -> None:
    op.drop_table("activity_events")
