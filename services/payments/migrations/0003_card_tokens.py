"""payments: card_tokens, the single-use tokens of the tokenization endpoint

Revision ID: payments_0003
Revises: payments_0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0003"
down_revision: str | None = "payments_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What is kept of a card: never its number or CVC.
    op.create_table(
        "card_tokens",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("brand", sa.String(20), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("behaviour", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_card_tokens_payment_id", "card_tokens", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_card_tokens_payment_id", "card_tokens")
    op.drop_table("card_tokens")
