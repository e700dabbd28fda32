"""A bad setting stops a real process with one line naming it; an unknown one is reported.

Each case runs `python -m services.catalog` (or the gateway) as an operator would, with only the
environment given, and reads its exit status and stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.keys import KeyFiles
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
# Start-up on a busy 2-core machine (imports alone take seconds): a hang shows as a timeout.
SECONDS = 120


def _run(module: str, env: dict[str, str], seconds: float = SECONDS) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=seconds,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def service_env(keys: KeyFiles, tmp_path: Path) -> dict[str, str]:
    """What a catalog process needs to start, on ports nobody uses, in a data folder of its own."""
    return {
        "SHOP_DATA_DIR": str(tmp_path),
        "SHOP_AUTH_PUBLIC_KEY_FILE": str(keys.public_key),
        "SHOP_SERVICE_SECRET_FILE": str(keys.service_secret),
        "SHOP_GRPC_PORT": str(free_port()),
        "SHOP_METRICS_PORT": "0",
        "SHOP_REDIS_URL": "redis://127.0.0.1:1/0",
        "SHOP_LOG_FORMAT": "text",
    }


def _one_line_naming(result: subprocess.CompletedProcess[str], setting: str, alone: bool = True) -> str:
    """The process failed, its last words are one line naming `setting`, and no traceback.
    `alone`: nothing else was printed (the settings were refused before any log line)."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    if alone:
        assert len(lines) == 1, result.stderr
    assert setting in lines[-1], lines[-1]
    return lines[-1]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SHOP_LOG_LEVEL", "verbose"),
        ("SHOP_LOG_FORMAT", "yaml"),
        ("SHOP_GRPC_PORT", "99999"),
        ("SHOP_METRICS_PORT", "http"),
        ("SHOP_RPC_TIMEOUT_SECONDS", "-1"),
        ("SHOP_DATABASE_URL", "mysql://shop@db/shop"),
        ("SHOP_DATABASE_URL", "postgresql://shop@db:port/shop"),
        ("SHOP_DATABASE_URL", "not a url"),
        ("SHOP_REDIS_URL", "127.0.0.1:6379"),
        ("SHOP_SIGNALS_INTERVAL_SECONDS", "soon"),
    ],
)
def test_a_bad_value_stops_the_service_with_one_line_naming_it(
    service_env: dict[str, str], setting: str, value: str
) -> None:
    line = _one_line_naming(_run("services.catalog", {**service_env, setting: value}), setting)
    assert line.startswith("catalog: ")


def test_an_unreachable_database_stops_the_service_with_one_line(service_env: dict[str, str]) -> None:
    url = f"postgresql://shop:secret-pw@127.0.0.1:{free_port()}/shop"
    line = _one_line_naming(
        _run("services.catalog", {**service_env, "SHOP_DATABASE_URL": url}), "SHOP_DATABASE_URL"
    )
    assert "cannot reach the database" in line
    assert "secret-pw" not in line


def test_a_per_service_database_url_is_the_one_named(service_env: dict[str, str]) -> None:
    url = f"postgres://shop@127.0.0.1:{free_port()}/shop"
    env = {**service_env, "SHOP_CATALOG_DATABASE_URL": url}
    _one_line_naming(_run("services.catalog", env), "SHOP_CATALOG_DATABASE_URL")


def test_a_data_folder_that_cannot_be_written_is_named(service_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**service_env, "SHOP_DATA_DIR": str(blocker / "data")}
    _one_line_naming(_run("services.catalog", env), "SHOP_DATA_DIR")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_stops_the_service_naming_it(service_env: dict[str, str], taken_port: int) -> None:
    env = {**service_env, "SHOP_GRPC_PORT": str(taken_port)}
    line = _one_line_naming(_run("services.catalog", env), "SHOP_GRPC_PORT", alone=False)
    assert str(taken_port) in line


def test_a_gateway_port_in_use_stops_the_gateway_naming_it(
    service_env: dict[str, str], taken_port: int
) -> None:
    env = {**service_env, "SHOP_GATEWAY_PORT": str(taken_port), "SHOP_GATEWAY_METRICS_PORT": "0"}
    line = _one_line_naming(_run("gateway", env), "SHOP_GATEWAY_PORT", alone=False)
    assert line.startswith("gateway: ")


def test_a_bad_gateway_setting_is_named(service_env: dict[str, str]) -> None:
    env = {**service_env, "SHOP_MAX_BODY_BYTES": "lots", "SHOP_GATEWAY_PORT": str(free_port())}
    _one_line_naming(_run("gateway", env), "SHOP_MAX_BODY_BYTES")


def test_an_unknown_setting_is_reported_with_the_likely_intended_one(service_env: dict[str, str]) -> None:
    """A typo is reported (the service still starts: the setting is merely ignored); it stops here
    on the unreachable database only because nothing else stops it sooner."""
    env = {
        **service_env,
        "SHOP_DATABSE_URL": "sqlite:///x.db",
        "SHOP_FROBNICATE": "1",
        "SHOP_DATABASE_URL": f"postgresql://shop@127.0.0.1:{free_port()}/shop",
        "SHOP_GATEWAY_PORT": "5000",
        "SHOP_CART_TTL_SECONDS": "60",
        "SHOP_PORT_OFFSET": "0",
        "SHOP_ORDERS_DATABASE_URL": "sqlite:///orders.db",
    }
    result = _run("services.catalog", env)
    assert "unknown setting SHOP_DATABSE_URL is ignored (did you mean SHOP_DATABASE_URL?)" in result.stderr
    assert "unknown setting SHOP_FROBNICATE is ignored" in result.stderr
    assert "SHOP_FROBNICATE is ignored (did you mean" not in result.stderr
    # Names another process reads (the launcher hands every process the same environment) are fine.
    for known in (
        "SHOP_GATEWAY_PORT",
        "SHOP_CART_TTL_SECONDS",
        "SHOP_PORT_OFFSET",
        "SHOP_ORDERS_DATABASE_URL",
    ):
        assert known not in result.stderr
