"""A read through `Database.fetch` survives the server dropping the pooled connections (no ping is
sent before each checkout any more). PostgreSQL only: an SQLite file has no connection to drop."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from services.kit.database import Database


async def test_a_read_survives_dropped_connections(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only (SHOP_TEST_DATABASE_URL)")
    db = Database(database_url.replace("{service}", "kit"))
    other = Database(database_url.replace("{service}", "kit"))
    try:
        ((pid,),) = await db.fetch(sa.select(sa.func.pg_backend_pid()))
        ((killed,),) = await other.fetch(sa.select(sa.func.pg_terminate_backend(pid)))
        assert killed

        ((answer,),) = await db.fetch(sa.select(sa.literal(42)))

        assert answer == 42
    finally:
        await db.close()
        await other.close()
