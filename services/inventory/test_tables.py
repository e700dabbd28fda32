"""The ORM models declare the CHECK constraints the migrations create (on the configured storage)."""

from __future__ import annotations

import sqlalchemy as sa

from services.inventory.service import MIGRATIONS
from services.inventory.store import Base
from services.kit.database import Database


async def test_models_declare_the_migrated_check_constraints(database_url: str) -> None:
    db = Database(database_url.format(service="inventory"))
    try:
        await db.migrate("inventory", MIGRATIONS)
        async with db.engine.connect() as conn:
            migrated = await conn.run_sync(
                lambda sync: {
                    table: {c["name"] for c in sa.inspect(sync).get_check_constraints(table)}
                    for table in Base.metadata.tables
                }
            )
    finally:
        await db.close()
    declared = {
        name: {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        for name, table in Base.metadata.tables.items()
    }
    assert declared == migrated
    assert "ck_stock_levels_reserved_within_on_hand" in declared["stock_levels"]
