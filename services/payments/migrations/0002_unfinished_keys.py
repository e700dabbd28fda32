"""payments: index of unfinished idempotency keys, for the resolver

Revision ID: payments_0002
Revises: payments_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "payments_0002"
down_revision: str | None = "payments_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_unfinished", "idempotency", ["completed", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_unfinished", "idempotency")
