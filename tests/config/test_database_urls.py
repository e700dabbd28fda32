"""The database URL forms people are given all work, through the async drivers.

PostgreSQL forms connect to the suite's own database when SHOP_TEST_DATABASE_URL is set (the PG
variant); the SQLite forms always run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from deploy.local.keys import KeyFiles
from services.kit.config import ServiceSettings, load
from services.kit.database import Database
from services.kit.database_url import DatabaseUrlError, async_database_url
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
needs_postgres = pytest.mark.skipif(
    not os.environ.get("SHOP_TEST_DATABASE_URL"), reason="PostgreSQL forms: set SHOP_TEST_DATABASE_URL"
)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db/shop", "postgresql+asyncpg://u:p@db/shop"),
        ("postgresql://u@db:5433/shop", "postgresql+asyncpg://u@db:5433/shop"),
        ("postgresql+psycopg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql+psycopg2://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql+asyncpg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql://u@db/shop?sslmode=require", "postgresql+asyncpg://u@db/shop?ssl=require"),
        ("sqlite:///shop.db", "sqlite+aiosqlite:///shop.db"),
        ("sqlite:////var/shop/shop.db", "sqlite+aiosqlite:////var/shop/shop.db"),
        ("sqlite+aiosqlite:///shop.db", "sqlite+aiosqlite:///shop.db"),
    ],
)
def test_common_forms_get_the_async_driver(given: str, used: str) -> None:
    assert async_database_url(given) == used


@pytest.mark.parametrize(
    "given",
    [
        "mysql://u@db/shop",
        "postgresql://u@db:port/shop",
        "postgresql://u@db/s?sslmode=on",
        "db.example/shop",
        "",
    ],
)
def test_urls_naming_no_usable_database_are_refused(given: str) -> None:
    with pytest.raises(DatabaseUrlError):
        async_database_url(given)


def _settings(url: str, tmp_path: Path) -> ServiceSettings:
    return load(ServiceSettings, service_name="catalog", database_url=url, data_dir=tmp_path)


async def _connects(url: str, tmp_path: Path) -> None:
    db = Database(_settings(url, tmp_path).resolved_database_url())
    try:
        await db.ping()
    finally:
        await db.close()


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"])
async def test_sqlite_forms_connect(scheme: str, tmp_path: Path) -> None:
    await _connects(f"{scheme}:///{tmp_path}/{{service}}.db", tmp_path)
    assert (tmp_path / "catalog.db").exists()


def _postgres_url(database_url: str, scheme: str) -> str:
    return make_url(database_url).set(drivername=scheme).render_as_string(hide_password=False)


@needs_postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg", "postgresql+asyncpg"])
async def test_postgres_forms_connect(scheme: str, database_url: str, tmp_path: Path) -> None:
    await _connects(_postgres_url(database_url, scheme), tmp_path)
    await _connects(_postgres_url(database_url, scheme) + "?sslmode=disable", tmp_path)


def _serving(port: int, process: subprocess.Popen[bytes]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            assert process.poll() is None, "the service exited"
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise AssertionError("not SERVING")


def test_a_service_starts_on_the_plain_url_form(
    database_url: str, redis_url: str, keys: KeyFiles, tmp_path: Path
) -> None:
    """What crashed with `No module named 'psycopg'`: a real process given the libpq form."""
    if os.environ.get("SHOP_TEST_DATABASE_URL"):
        plain = _postgres_url(database_url, "postgresql")
    else:
        plain = f"sqlite:///{tmp_path}/{{service}}.db"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOP_")},
        "SHOP_DATA_DIR": str(tmp_path),
        "SHOP_DATABASE_URL": plain,
        "SHOP_REDIS_URL": redis_url,
        "SHOP_AUTH_PUBLIC_KEY_FILE": str(keys.public_key),
        "SHOP_SERVICE_SECRET_FILE": str(keys.service_secret),
        "SHOP_GRPC_PORT": str(port),
        "SHOP_METRICS_PORT": "0",
        "SHOP_DRAIN_SECONDS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.content"], cwd=REPO, env=env, stderr=subprocess.PIPE
    )
    try:
        _serving(port, process)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err
