"""A server database's connections: a read through `Database.fetch` survives the server dropping
the pooled ones (no ping is sent before each checkout any more), and a process holds no more than
its pool allows. PostgreSQL only: an SQLite file has no connections to drop or count."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from services.kit.database import Database, Pool


def _postgresql_only(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only (SHOP_TEST_DATABASE_URL)")


async def test_a_read_survives_dropped_connections(database_url: str) -> None:
    _postgresql_only(database_url)
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


async def test_concurrent_work_beyond_the_pool_waits_for_a_connection_instead_of_opening_one(
    database_url: str,
) -> None:
    _postgresql_only(database_url)
    db = Database(database_url.replace("{service}", "kit"), Pool(size=2, overflow=1))
    try:
        answers = await asyncio.gather(
            *(db.fetch(sa.select(sa.func.pg_backend_pid(), sa.func.pg_sleep(0.1))) for _ in range(12))
        )
        assert len(answers) == 12
        assert len({pid for ((pid, _),) in answers}) <= 3
    finally:
        await db.close()
