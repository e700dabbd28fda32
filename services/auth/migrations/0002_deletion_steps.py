"""deletion_steps: the outbox of account deletions

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0002"
down_revision: str | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per (deleted user, service that must forget them), written in the same transaction
    # as the user row's delete; done_at is set once that service has answered.
    op.create_table(
        "deletion_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("user_id", "target", name="uq_deletion_steps_user_target"),
    )
    op.create_index("ix_deletion_steps_due", "deletion_steps", ["done_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("deletion_steps")
