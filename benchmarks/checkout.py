"""Benchmark of checkout through the gateway (not a test): throughput and latency of POST /api/orders/.

    .venv/bin/python -m benchmarks.checkout [--checkouts 500] [--concurrency 50] [--port-offset 800]

Starts a local platform of its own in a temporary data folder with the launcher
(`python -m deploy.local --services auth,catalog,cart,inventory,orders,payments`, gateway included,
every service a process of its own, shifted by SHOP_PORT_OFFSET, embedded Redis, SQLite unless
SHOP_DATABASE_URL is set), all on 127.0.0.1. Then, in this process:

1. one product with exactly `--checkouts` units; `--checkouts` customers (tokens minted with the
   platform's key, as the gateway accepts any validly signed, unrevoked token), one unit each in
   their carts;
2. a short warm-up on a product of its own;
3. `--checkouts` checkouts, at most `--concurrency` in flight at once, each timed from request to
   answer. Reported: answers by status, checkouts per second, p50/p90/p99/max latency; and the
   product's stock afterwards, which must be 0 (every unit sold once, none oversold).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.platform import launcher, percentile
from deploy.local.keys import ensure_keys
from deploy.local.ports import port_table
from tests.support.tokens import TokenFactory

SERVICES = "auth,catalog,cart,inventory,orders,payments,shipping,profile"
WARM_UP = 20


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.base + path, data=data, headers=headers) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw else None


async def product(client: Client, admin: str, stock: int) -> int:
    status, body = await client.call(
        "POST",
        "/products/",
        admin,
        {"name": f"Bench kettle {random.randrange(10**9)}", "price": 25.0, "description": "", "stock": stock},
    )
    if status != 201:
        raise SystemExit(f"could not create the product: {status} {body}")
    product_id: int = body["id"]
    return product_id


async def customers(
    client: Client, tokens: TokenFactory, product_ids: list[int], count: int, limit: int
) -> list[str]:
    """`count` customers, the n-th with one unit of product n % len(product_ids) in the cart."""
    minted = [tokens.customer(random.randint(10**9, 10**12)) for _ in range(count)]
    gate = asyncio.Semaphore(limit)

    async def fill(n: int, token: str) -> None:
        line = {"product_id": product_ids[n % len(product_ids)], "quantity": 1}
        async with gate:
            status, body = await client.call("POST", "/cart/", token, line)
            if status != 201:
                raise SystemExit(f"could not fill a cart: {status} {body}")

    await asyncio.gather(*(fill(n, t) for n, t in enumerate(minted)))
    return minted


async def settled_stock(client: Client, admin: str, product_ids: list[int]) -> int:
    """Units left once nothing changes any more (a checkout the gateway gave up on after its
    deadline still runs to its end in orders)."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, stock = await client.call("GET", "/inventory/", admin)
        left = sum(stock.get(str(p), 0) for p in product_ids) if status == 200 else -1
        if left != last:
            last, stable_since = left, time.monotonic()
        elif left == 0 or time.monotonic() - stable_since > 3:
            break
        await asyncio.sleep(0.5)
    return last


async def checkouts(client: Client, people: list[str], limit: int) -> tuple[list[float], Counter[int], float]:
    gate = asyncio.Semaphore(limit)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def one(token: str) -> None:
        async with gate:
            started = time.perf_counter()
            status, _ = await client.call("POST", "/orders/", token)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in people))
    return latencies, statuses, time.perf_counter() - started


async def rpc_times(session: aiohttp.ClientSession, offset: int) -> list[tuple[float, str, int]]:
    """(mean ms, "service.Method", calls) of every RPC the services served, from their /metrics."""
    found = []
    for name in SERVICES.split(","):
        port = port_table(offset).services[name].metrics
        try:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        except aiohttp.ClientError:
            continue
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "shop_rpc_server_duration_seconds":
                continue
            for sample in family.samples:
                method = sample.labels.get("method", "")
                # One series per outcome code: add them up per method.
                if sample.name.endswith("_sum"):
                    sums[method] = sums.get(method, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    counts[method] = counts.get(method, 0.0) + sample.value
        for method, count in counts.items():
            if count:
                found.append((1000 * sums.get(method, 0.0) / count, f"{name}.{method}", int(count)))
    return sorted(found, reverse=True)


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-checkout-"))
    keys = ensure_keys(data_dir)
    tokens = TokenFactory(keys.private_key.read_bytes())
    admin = tokens.admin()
    async with launcher(data_dir, args.port_offset, SERVICES):
        base = f"http://127.0.0.1:{port_table(args.port_offset).gateway_http}/api"
        connector = aiohttp.TCPConnector(limit=max(args.concurrency, 10))
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            client = Client(session, base)
            warm = [await product(client, admin, WARM_UP)]
            warmed = await customers(client, tokens, warm, WARM_UP, args.concurrency)
            await checkouts(client, warmed, args.concurrency)

            # Exactly as many units as checkouts, spread over --products products.
            count, spread = args.checkouts, args.products
            units = [count // spread + (n < count % spread) for n in range(spread)]
            product_ids = [await product(client, admin, u) for u in units]
            people = await customers(client, tokens, product_ids, args.checkouts, args.concurrency)
            latencies, statuses, elapsed = await checkouts(client, people, args.concurrency)
            left = await settled_stock(client, admin, product_ids)
            slowest = await rpc_times(session, args.port_offset)

    ms = [x * 1000 for x in latencies]
    database = "SHOP_DATABASE_URL" if os.environ.get("SHOP_DATABASE_URL") else "SQLite (a file per service)"
    print(
        f"checkout benchmark: {args.checkouts} checkouts at concurrency {args.concurrency}, "
        f"over {args.products} product(s)"
    )
    print(f"  CPUs: {os.cpu_count()}")
    print(f"  database: {database}")
    print(f"  answers:  {dict(sorted(statuses.items()))}")
    print(f"  throughput: {len(latencies) / elapsed:,.1f} checkouts/s ({elapsed:.2f} s in all)")
    print(
        f"  latency ms: p50 {percentile(ms, 0.50):.0f}  p90 {percentile(ms, 0.90):.0f}  "
        f"p99 {percentile(ms, 0.99):.0f}  max {max(ms):.0f}"
    )
    print(f"  stock left: {left} (expected 0)")
    print("  mean server time per RPC (whole run, warm-up and setup included):")
    for mean, method, calls in slowest[:12]:
        print(f"    {method:<45} {mean:8.1f} ms  x{calls}")
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"  data kept in {data_dir}")
    if left != 0:
        raise SystemExit("stock left over: some checkouts did not complete")
    if statuses.get(201) != args.checkouts:
        print("  note: answers other than 201 are the gateway's deadline (SHOP_RPC_TIMEOUT_SECONDS);")
        print("  those checkouts still completed in orders, as the stock left shows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkouts", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--products", type=int, default=1, help="1: every buyer wants the same product")
    parser.add_argument("--port-offset", type=int, default=800)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    asyncio.run(main(parser.parse_args()))
