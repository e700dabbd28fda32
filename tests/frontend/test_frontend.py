"""The shop's web pages: API types current, unit and component tests (Vitest), the bundle budget,
and the browser tests (frontend/e2e/run.mjs in Debian's Chromium) against the real platform started
by the launcher on a fresh data folder, the way `make run` starts it.

`make test` installs frontend/node_modules (npm ci) and builds frontend/dist before pytest runs.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.api_schema import write
from tests.e2e.test_platform import ADMIN_EMAIL, ADMIN_PASSWORD, Launched, _free_offset, _launch, _stop
from tests.support.polling import eventually
from tests.support.run import redis_prefix

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
BIN = FRONTEND / "node_modules" / ".bin"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# gzip size of the JavaScript loaded by the first page (the entry chunk); each route adds its own.
ENTRY_BUDGET_BYTES = 150_000
ROUTE_CHUNK_BUDGET_BYTES = 20_000


def _count(suite: str, passed: int, failed: int) -> None:
    """Adds a suite's counts to the file `.ci/run` sums up at its end (SHOP_TEST_COUNTS)."""
    target = os.environ.get("SHOP_TEST_COUNTS")
    if target:
        with open(target, "a", encoding="utf-8") as counts:
            counts.write(json.dumps({"suite": suite, "passed": passed, "failed": failed}) + "\n")


def _vitest_counts(output: str) -> tuple[int, int]:
    """From Vitest's summary line, e.g. "Tests  2 failed | 31 passed (33)"."""
    line = next((row for row in output.splitlines() if row.strip().startswith("Tests ")), "")
    found = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed)", line))
    return found.get("passed", 0), found.get("failed", 0)


def _need(path: Path, what: str) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: {what}")


def _run(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_api_types_are_generated_from_the_current_gateway(tmp_path: Path) -> None:
    _need(BIN / "openapi-typescript", "run `make setup` (npm ci in frontend/)")
    write(tmp_path / "openapi.json")
    out = tmp_path / "schema.ts"
    result = _run(
        [
            str(BIN / "openapi-typescript"),
            str(tmp_path / "openapi.json"),
            "--default-non-nullable",
            "false",
            "-o",
            str(out),
        ],
        60,
    )
    assert result.returncode == 0, result.stderr
    committed = (FRONTEND / "src" / "api" / "schema.ts").read_text()
    assert out.read_text() == committed, "frontend/src/api/schema.ts is stale: run `make frontend-api`"


def test_unit_and_component_tests_pass() -> None:
    _need(BIN / "vitest", "run `make setup` (npm ci in frontend/)")
    result = _run(
        [str(BIN / "vitest"), "run", "--reporter=dot"], 240, env={**os.environ, "CI": "true", "NO_COLOR": "1"}
    )
    _count("vitest", *_vitest_counts(result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_bundle_stays_within_its_budget() -> None:
    dist = FRONTEND / "dist"
    _need(dist / "index.html", "run `make frontend`")
    index = (dist / "index.html").read_text()
    sizes = {p.name: len(gzip.compress(p.read_bytes())) for p in (dist / "assets").glob("*.js")}
    entry = [name for name in sizes if name in index]
    assert len(entry) == 1, f"one entry chunk expected in index.html, got {entry}"
    assert sizes[entry[0]] <= ENTRY_BUDGET_BYTES, (
        f"entry chunk {sizes[entry[0]]} B gzip > {ENTRY_BUDGET_BYTES}"
    )
    # Route-level code splitting: each page (and back-office tab) is a chunk of its own.
    routes = {name: size for name, size in sizes.items() if name.split("-")[0].endswith(("Page", "Tab"))}
    assert {"CatalogPage", "CheckoutPage", "AccountPage"} <= {n.split("-")[0] for n in routes}
    too_big = {name: size for name, size in routes.items() if size > ROUTE_CHUNK_BUDGET_BYTES}
    assert not too_big, f"route chunks over {ROUTE_CHUNK_BUDGET_BYTES} B gzip: {too_big}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str) -> Iterator[Launched]:
    _need(FRONTEND / "dist" / "index.html", "run `make frontend`")
    env: dict[str, str] = {}
    if os.environ.get("SHOP_TEST_DATABASE_URL"):
        env["SHOP_DATABASE_URL"] = database_url
    if os.environ.get("SHOP_TEST_REDIS_URL"):
        env["SHOP_REDIS_URL"] = redis_url
        env["SHOP_REDIS_PREFIX"] = redis_prefix("browser")
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    platform = _launch(data_dir, _free_offset(), env)
    try:
        yield platform
    finally:
        if platform.process.poll() is None:
            _stop(platform)


def _browser(shop: Launched, shots: Path, *mode: str) -> list[str]:
    """Runs e2e/run.mjs (all scenarios, or one `mode`) and returns its PASS/FAIL lines."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (make setup does it as root)")
    node = shutil.which("node")
    assert node, "node is needed for the browser tests"
    result = _run(
        [node, "e2e/run.mjs", *mode],
        420,
        env={
            **os.environ,
            "SHOP_URL": shop.ports.shop_url,
            "SHOP_ADMIN_EMAIL": ADMIN_EMAIL,
            "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SCREENSHOT_DIR": str(shots),
            "CHROMIUM": str(CHROMIUM),
        },
    )
    print(result.stdout)
    summary = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL", "browser:"))]
    _count(
        "browser",
        sum(line.startswith("PASS") for line in summary),
        sum(line.startswith("FAIL") for line in summary) or int(result.returncode != 0),
    )
    assert result.returncode == 0, "\n".join(summary) + "\n" + result.stdout[-8000:] + result.stderr[-3000:]
    return summary


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("SHOP_SCREENSHOT_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("screenshots")


def test_the_shop_in_a_real_browser(shop: Launched, shots: Path) -> None:
    summary = _browser(shop, shots)
    assert sum(line.startswith("PASS") for line in summary) >= 10, summary


def test_with_reviews_down_the_product_page_still_sells(shop: Launched, shots: Path) -> None:
    """Last in this module: the reviews process is stopped on purpose (SIGTERM, a clean exit), so
    the launcher leaves it down."""
    reviews_pid = shop.state()["reviews"]["pid"]
    assert isinstance(reviews_pid, int)
    os.kill(reviews_pid, signal.SIGTERM)
    _gone(reviews_pid)
    summary = _browser(shop, shots, "reviews-down")
    assert [line.startswith("PASS") for line in summary[:-1]] == [True], summary


def _gone(pid: int) -> None:
    """Until the process has exited (it drains its calls first)."""

    async def exited() -> bool:
        return not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)

    asyncio.run(eventually(exited))


def _state(pid: int) -> str:
    # A process reaped between the exists() check and this read raises ENOENT or ESRCH.
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "zombie"
