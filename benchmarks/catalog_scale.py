"""Benchmark of the catalog at size (not a test): p50/p99 of the storefront's reads over 100,000 products.

    .venv/bin/python -m benchmarks.catalog_scale [--products 100000] [--requests 400] [--port-offset 1100]
    .venv/bin/python -m benchmarks.catalog_scale --database postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeds a new temporary data folder (SQLite), or with `--database` new PostgreSQL databases
`shop_bench_cat_<service>` on that server (dropped at the end), with `python -m deploy.seed_catalog`,
then starts the platform's auth, catalog, inventory, reviews and activity with the launcher
(gateway included, on `--port-offset`; embedded Valkey) and sends `--requests` requests per read through
the gateway, from 8 concurrent clients, each request with its own parameters (random product ids,
search words, categories, page positions), and prints per read p50, p99, answers/s and the CPU
each process spent per request (from /proc/<pid>/stat, over the warm-up and measured requests).
The gateway's answer cache is off (`SHOP_PRODUCT_CACHE_SECONDS=0`): these figures are the storage
paths, not memory hits.
`--data-dir DIR` seeds DIR once and keeps it (SQLite: a second run skips the seeding).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.platform import ROOT, launcher, percentile
from benchmarks.procstat import cpu_seconds
from deploy.local.ports import port_table
from deploy.local.supervisor import state_file
from deploy.seed_catalog import MATERIALS, NOUNS
from services.kit import paging

SERVICES = "auth,catalog,inventory,reviews,activity"
DATABASE_PREFIX = "shop_bench_cat"
CLIENTS = 8
WARM_UP = CLIENTS * 2
SEARCHES = [*NOUNS[:20], *MATERIALS[:10], "oak lamp", "wooden chair", "lmap", "vintage brass", "SKU-0004217"]


@dataclass(frozen=True)
class Read:
    name: str
    path: Callable[[random.Random], str]


def _token(sort: str, value: object, product_id: int) -> str:
    # The catalog's keyset token (services/catalog/search/sql.py): [sort, last value, last id].
    return paging.encode(json.dumps([sort, value, product_id]))


def reads(products: int) -> list[Read]:
    def deep_page(rng: random.Random) -> str:
        price = rng.randint(40_000, 60_000)  # about the middle of the price range
        return "/api/catalog/products/?" + urlencode(
            {"sort": "price_asc", "page_token": _token("price_asc", price, rng.randint(1, products))}
        )

    def filtered(rng: random.Random) -> str:
        low = rng.randint(0, 500)
        return "/api/catalog/products/?" + urlencode(
            {
                "category": rng.randint(1, 8),  # a department: every subcategory below it
                "min_price": low,
                "max_price": low + rng.randint(50, 500),
                "in_stock": "true",
                "min_rating": rng.choice([0, 3, 4]),
                "sort": rng.choice(["price_asc", "rating", "newest"]),
                "facets": "true",
            }
        )

    return [
        Read("first page (catalog, newest, 24)", lambda rng: "/api/catalog/products/"),
        Read("first page (documented /api/products/, 100)", lambda rng: "/api/products/"),
        Read("deep page (price_asc, keyset at the middle)", deep_page),
        Read(
            "deep page (documented, after a random id)",
            lambda rng: (
                "/api/products/?" + urlencode({"page_token": paging.encode(rng.randint(1, products))})
            ),
        ),
        Read(
            "search (ranked, a word or two, typos)",
            lambda rng: "/api/catalog/products/?" + urlencode({"q": rng.choice(SEARCHES)}),
        ),
        Read("filtered + faceted listing", filtered),
        Read("product page (documented)", lambda rng: f"/api/products/{rng.randint(1, products)}"),
        Read("product page (catalog)", lambda rng: f"/api/catalog/products/{rng.randint(1, products)}"),
    ]


async def measure(base: str, read: Read, requests: int, seed: int) -> tuple[float, float, float, int]:
    """p50 and p99 in ms, requests/s, and how many answers were not 200."""
    rng = random.Random(seed)
    paths = [read.path(rng) for _ in range(requests)]
    latencies: list[float] = []
    failures = 0
    async with aiohttp.ClientSession(base) as session:
        for path in paths[:WARM_UP]:  # warm connections and caches of the database
            async with session.get(path) as response:
                await response.read()
        queue = iter(paths)

        async def client() -> None:
            nonlocal failures
            for path in queue:
                started = time.perf_counter()
                async with session.get(path) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    return percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies) / elapsed, failures


async def seed(env: dict[str, str], products: int) -> None:
    started = time.perf_counter()
    seeder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "deploy.seed_catalog", "--products", str(products)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    out, _ = await seeder.communicate()
    if seeder.returncode != 0:
        raise SystemExit("deploy.seed_catalog failed")
    print(out.decode().strip(), f"({time.perf_counter() - started:.0f} s with start-up)")


@contextlib.asynccontextmanager
async def databases(url: str | None) -> AsyncIterator[str | None]:
    """New PostgreSQL databases per service (dropped afterwards); the SHOP_DATABASE_URL naming them."""
    if url is None:
        yield None
        return
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql")
    names = [f"{DATABASE_PREFIX}_{s}" for s in SERVICES.split(",")]

    async def run(statements: list[str]) -> None:
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    drops = [f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names]
    await run(drops + [f"CREATE DATABASE {n}" for n in names])
    try:
        # Written by hand: rendering a URL object would escape the braces of "{service}".
        yield url.rsplit("/", 1)[0] + f"/{DATABASE_PREFIX}_{{service}}"
    finally:
        await run(drops)


async def run(args: argparse.Namespace) -> None:
    keep = args.data_dir is not None
    data_dir = Path(args.data_dir) if keep else Path(tempfile.mkdtemp(prefix="shop-bench-catalog-"))
    seeded_before = keep and args.database is None and (data_dir / "catalog.db").exists()
    try:
        async with databases(args.database) as database_url:
            env = {**os.environ, "SHOP_DATA_DIR": str(data_dir), "SHOP_PRODUCT_CACHE_SECONDS": "0"}
            env.pop("SHOP_DATABASE_URL", None)
            if database_url:
                env["SHOP_DATABASE_URL"] = database_url
            if not seeded_before:
                await seed(env, args.products)
            os.environ.update({k: env[k] for k in ("SHOP_DATA_DIR", "SHOP_PRODUCT_CACHE_SECONDS")})
            if database_url:
                os.environ["SHOP_DATABASE_URL"] = database_url
            async with launcher(data_dir, args.port_offset, SERVICES):
                base = f"http://127.0.0.1:{port_table(args.port_offset).gateway_http}"
                storage = "PostgreSQL" if database_url else "SQLite"
                print(f"\n{storage}, {args.products} products, {CLIENTS} clients, {args.requests} per row\n")
                pids = {n: int(e["pid"]) for n, e in json.loads(state_file(data_dir).read_text()).items()}
                costed = [n for n in ("gateway", "catalog", "inventory", "reviews", "activity") if n in pids]
                print(
                    "| read | p50 | p99 | req/s | non-200 | CPU ms per request: "
                    + " / ".join(costed)
                    + " |\n|---|---|---|---|---|---|"
                )
                for i, read in enumerate(reads(args.products)):
                    before = {n: cpu_seconds(pids[n]) for n in costed}
                    p50, p99, rate, failures = await measure(base, read, args.requests, i)
                    cpu = " / ".join(
                        f"{1000 * (cpu_seconds(pids[n]) - before[n]) / (args.requests + WARM_UP):.1f}"
                        for n in costed
                    )
                    row = f"| {read.name} | {p50:.1f} ms | {p99:.1f} ms | {rate:.0f} | {failures} | {cpu} |"
                    print(row, flush=True)
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_scale")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400, help="per read")
    parser.add_argument("--port-offset", type=int, default=1100)
    parser.add_argument("--database", default=None, help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument(
        "--data-dir", default=None, help="keep the data folder here (default: a temporary one)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
