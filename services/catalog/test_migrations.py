"""catalog_0002 upgrades a catalog that already has products, on the configured storage: they
become active, get a slug, and are found (typos too) by the new index."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from services.catalog.search import Query, for_database
from services.catalog.service import MIGRATIONS
from services.kit.database import Database


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    external = os.environ.get("SHOP_TEST_DATABASE_URL")
    if not external:
        yield f"sqlite+aiosqlite:///{tmp_path}/catalog.db"
        return
    name = f"catalog_migration_{uuid4().hex[:12]}"
    maintenance = make_url(external).set(drivername="postgresql", database="postgres")
    dsn = maintenance.render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(external).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_existing_products_are_upgraded_and_indexed(empty_database: str, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(MIGRATIONS / "0001_products.py", first)
    db = Database(empty_database)
    try:
        await db.migrate("catalog", first)
        async with db.write() as session:
            for name, deleted_at in (("Brass lantern", "NULL"), ("Old lantern", "CURRENT_TIMESTAMP")):
                await session.execute(
                    sa.text(
                        "INSERT INTO products (name, description, price_minor, currency, weight_grams, "
                        "created_at, updated_at, deleted_at) VALUES "
                        f"(:n, 'a light', 100, 'USD', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {deleted_at})"
                    ),
                    {"n": name},
                )
        await db.migrate("catalog", MIGRATIONS)
        async with db.read() as session:
            rows = (await session.execute(sa.text("SELECT id, slug, status FROM products ORDER BY id"))).all()
            assert [(r.slug, r.status) for r in rows] == [(f"product-{r.id}", "active") for r in rows]
            found = await for_database(db).search(Query(text="lantrn"))
            assert (found.ids, found.corrected) == ([rows[0].id], "lantern")
            slugs = await session.scalar(sa.text("SELECT count(*) FROM product_slugs"))
            assert slugs == 2
    finally:
        await db.close()
