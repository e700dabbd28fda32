"""users

Revision ID: auth_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        # Stored stripped and lowercased, so this index makes emails unique case-insensitively.
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('customer', 'admin')", name="ck_users_role"),
        # Never reuse the id of a deleted user: their unexpired tokens name it (PostgreSQL
        # sequences never do; SQLite needs AUTOINCREMENT).
        sqlite_autoincrement=True,
    )
    op.create_index("ux_users_email", "users", ["email"], unique=True)


def downgrade() -> None:
    op.drop_table("users")
