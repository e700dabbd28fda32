"""categories, slugs, SKU, status, images, signals and the search index

Revision ID: catalog_0002
Revises: catalog_0001
Create Date: 2026-12-01

Existing products become active and get a slug "product-<id>". The search index is FTS5 tables
on SQLite and a generated tsvector column + pg_trgm indexes on PostgreSQL (services/catalog/search).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_0002"
down_revision: str | None = "catalog_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Byte order on PostgreSQL too, so a prefix is a range scan of the term index.
TERM = sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql")


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("slug", sa.String(220), nullable=True))
        batch.add_column(sa.Column("sku", sa.String(64), nullable=True))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("in_stock", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("rating_average", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("rating_count", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("popularity", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE products SET slug = 'product-' || CAST(id AS VARCHAR(20))")
    op.create_index("ux_products_slug", "products", ["slug"], unique=True)
    op.create_index("ux_products_sku", "products", ["sku"], unique=True)
    op.create_index("ix_products_status_price", "products", ["status", "price_minor", "id"])
    op.create_index("ix_products_status_name", "products", ["status", "name", "id"])

    op.create_table(
        "product_slugs",
        sa.Column("slug", sa.String(220), primary_key=True),
        sa.Column("product_id", ID, sa.ForeignKey("products.id"), nullable=False),
    )
    op.execute("INSERT INTO product_slugs (slug, product_id) SELECT slug, id FROM products")

    op.create_table(
        "categories",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("parent_id", ID, sa.ForeignKey("categories.id"), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_categories_path", "categories", ["path"])
    op.create_index("ix_categories_parent", "categories", ["parent_id", "position"])

    op.create_table(
        "product_categories",
        sa.Column("product_id", ID, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("category_id", ID, sa.ForeignKey("categories.id"), primary_key=True),
    )
    op.create_index("ix_product_categories_category", "product_categories", ["category_id", "product_id"])

    op.create_table(
        "product_images",
        sa.Column("id", ID, primary_key=True),
        sa.Column("product_id", ID, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("alt_text", sa.String(300), nullable=False, server_default=""),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_product_images_product", "product_images", ["product_id", "position"])

    # The vocabulary of indexed words (how many live products use each): typo correction.
    op.create_table(
        "search_terms",
        sa.Column("id", ID, primary_key=True),
        sa.Column("term", TERM, nullable=False, unique=True),
        sa.Column("products", sa.BigInteger(), nullable=False),
    )

    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE products_fts USING fts5("
            "name, description, sku, tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
        )
        op.execute("CREATE VIRTUAL TABLE search_terms_trigram USING fts5(term, tokenize='trigram')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('simple', coalesce(sku, '')), 'A') || "
            "setweight(to_tsvector('simple', coalesce(description, '')), 'B')) STORED"
        )
        op.execute("CREATE INDEX ix_products_search ON products USING gin (search_vector)")
        op.execute("CREATE INDEX ix_search_terms_trgm ON search_terms USING gin (term gin_trgm_ops)")
    _index_existing(bind)


def _index_existing(bind: sa.engine.Connection) -> None:
    """The products that existed before the index: their words (and their FTS5 rows on SQLite)."""
    from services.catalog.search.text import vocabulary

    counts: dict[str, int] = {}
    rows = bind.execute(sa.text("SELECT id, name, description FROM products WHERE deleted_at IS NULL")).all()
    for product_id, name, description in rows:
        for term in vocabulary(name, description):
            counts[term] = counts.get(term, 0) + 1
        if bind.dialect.name == "sqlite":
            bind.execute(
                sa.text("INSERT INTO products_fts (rowid, name, description, sku) VALUES (:i, :n, :d, '')"),
                {"i": product_id, "n": name, "d": description},
            )
    for term, count in sorted(counts.items()):
        term_id = bind.execute(
            sa.text("INSERT INTO search_terms (term, products) VALUES (:t, :n) RETURNING id"),
            {"t": term, "n": count},
        ).scalar_one()
        if bind.dialect.name == "sqlite":
            bind.execute(
                sa.text("INSERT INTO search_terms_trigram (rowid, term) VALUES (:i, :t)"),
                {"i": term_id, "t": term},
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE search_terms_trigram")
        op.execute("DROP TABLE products_fts")
    else:
        op.execute("ALTER TABLE products DROP COLUMN search_vector")
    for table in ("search_terms", "product_images", "product_categories", "categories", "product_slugs"):
        op.drop_table(table)
    for index in (
        "ix_products_status_name",
        "ix_products_status_price",
        "ux_products_sku",
        "ux_products_slug",
    ):
        op.drop_index(index, "products")
    with op.batch_alter_table("products") as batch:
        for column in ("popularity", "rating_count", "rating_average", "in_stock", "status", "sku", "slug"):
            batch.drop_column(column)
