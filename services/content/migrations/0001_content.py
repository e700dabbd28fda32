"""posts, post tags and banners

Revision ID: content_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "content_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("author_name", sa.String(100), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("publish_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sort_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("slug", name="uq_posts_slug"),
        sa.CheckConstraint("status IN ('draft', 'published')", name="ck_posts_status"),
        sqlite_autoincrement=True,
    )
    # The listing order: newest first (public lists add status and publish_at <= now).
    op.create_index("ix_posts_listing", "posts", ["sort_at", "id"])
    op.create_table(
        "post_tags",
        sa.Column(
            "post_id",
            _ID,
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("tag", sa.String(40), primary_key=True),
    )
    op.create_index("ix_post_tags_tag", "post_tags", ["tag", "post_id"])
    op.create_table(
        "banners",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("image_url", sa.String(2000), nullable=False),
        sa.Column("link_url", sa.String(2000), nullable=False),
        sa.Column("placement", sa.String(40), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    # The listing order within a placement: priority desc, then newest.
    op.create_index("ix_banners_listing", "banners", ["placement", "priority", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("banners")
    op.drop_table("post_tags")
    op.drop_table("posts")
