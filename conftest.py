"""Fixtures shared by the whole suite.

Storage is real. By default: SQLite files in a temporary folder and an embedded Valkey server.
With SHOP_TEST_DATABASE_URL (a PostgreSQL URL) the suite creates a throwaway database on that
server and drops it afterwards; with SHOP_TEST_REDIS_URL it uses that Redis under a key prefix
of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from deploy.local.keys import KeyFiles, ensure_keys
from tests.support.hangs import reported_if_hung
from tests.support.harness import Platform
from tests.support.run import RUN_ID, redis_prefix
from tests.support.tokens import TokenFactory


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A test still running 30 s before its timeout prints where its tasks wait."""
    marker = item.get_closest_marker("timeout")
    configured = item.config.getoption("timeout", None) or item.config.getini("timeout") or 0
    timeout = float(marker.args[0]) if marker and marker.args else float(configured)
    if timeout <= 30:
        return (yield)
    with reported_if_hung(timeout - 30):
        return (yield)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return ensure_keys(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tokens(keys: KeyFiles) -> TokenFactory:
    return TokenFactory(keys.private_key.read_bytes())


async def _forget_run_keys(url: str) -> None:
    """A shared Redis keeps nothing of this run once it ends."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        for kind in ("test", "e2e", "image"):
            batch = [key async for key in client.scan_iter(match=f"{redis_prefix(kind)}*", count=1000)]
            for start in range(0, len(batch), 500):
                await client.delete(*batch[start : start + 500])
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def redis_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    external = os.environ.get("SHOP_TEST_REDIS_URL")
    if external:
        try:
            yield external
        finally:
            await _forget_run_keys(external)
        return
    from deploy.local.redis_server import EmbeddedRedis
    from tests.support.ports import free_port

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), free_port())
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def _on_maintenance_db(url: str, statement: str) -> None:
    """Runs one statement on the database the URL names (CREATE/DROP DATABASE can't run in a transaction)."""
    import asyncpg

    base = make_url(url)
    conn = await asyncpg.connect(
        host=base.host,
        port=base.port or 5432,
        user=base.username,
        password=base.password,
        database=base.database,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A URL template ("{service}" is each service's name) for fresh, empty databases."""
    external = os.environ.get("SHOP_TEST_DATABASE_URL")
    if not external:
        folder = tmp_path_factory.mktemp("db")
        yield f"sqlite+aiosqlite:///{folder}/{{service}}.db"
        return
    name = f"shop_test_{RUN_ID}"
    await _on_maintenance_db(external, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(external).set(database=name).render_as_string(hide_password=False)
    finally:
        await _on_maintenance_db(external, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def platform(
    tmp_path_factory: pytest.TempPathFactory, keys: KeyFiles, database_url: str, redis_url: str
) -> AsyncIterator[Platform]:
    """The domain services, started on demand with `await platform.start("catalog")`."""
    data_dir = keys.private_key.parent.parent
    plat = Platform(data_dir, keys, database_url, redis_url, redis_prefix("test"))
    try:
        yield plat
    finally:
        await plat.close()


@pytest.fixture(scope="session")
def data_dir(keys: KeyFiles) -> Path:
    return keys.private_key.parent.parent
