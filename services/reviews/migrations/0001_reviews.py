"""reviews and rating summaries

Revision ID: reviews_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reviews_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("verified_purchase", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
    )
    # The listing orders: newest first, and by rating (ties newest first).
    op.create_index("ix_reviews_newest", "reviews", ["product_id", "hidden", "created_at", "id"])
    op.create_index("ix_reviews_rating", "reviews", ["product_id", "hidden", "rating", "created_at", "id"])
    op.create_index("ix_reviews_user", "reviews", ["user_id"])
    op.create_table(
        "rating_summaries",
        sa.Column("product_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sum", sa.BigInteger(), nullable=False, server_default="0"),
        *(sa.Column(f"r{n}", sa.BigInteger(), nullable=False, server_default="0") for n in range(1, 6)),
    )


def downgrade() -> None:
    op.drop_table("rating_summaries")
    op.drop_table("reviews")
