"""Throughput benchmark through the gateway (not a test), SQLite and PostgreSQL in one run.

    .venv/bin/python -m benchmarks.throughput [--checkouts 400] [--concurrency 16] [--port-offset 7000]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/] [--floor]

For each storage variant (SQLite files, then a throwaway PostgreSQL database `shop_perf_<random>`
created and dropped on the `--postgres` server, skipped without it), it starts a platform with the
real launcher (every service a process, embedded Redis, loopback only) and prints:

- CPU per request per process (user + system from /proc/<pid>/stat, all threads) for a product
  GET, a cart add and a checkout, each measured over a fixed number of requests;
- checkout throughput and latency at `--concurrency` shoppers, over many products and over one
  hot product, with exactly as many units as checkouts: oversold units (sold beyond stock) and
  double charges (orders with more than one payment at payments) must both be 0.

`--floor` first runs ../shared/floor/run.sh against the SQLite platform's product GET and cart
read, so the floor rows and the platform's, with their ratios, come from the same run.
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

import aiohttp
import asyncpg
import grpc

from benchmarks.checkout import Client, customers, product, settled_stock
from benchmarks.platform import FLOOR, launcher, percentile, run_floor
from benchmarks.procstat import per_request_ms, snapshot
from deploy.local.keys import ensure_keys
from deploy.local.ports import port_table
from deploy.local.supervisor import state_file
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.support.tokens import TokenFactory, bearer

SERVICES = "auth,catalog,cart,inventory,orders,payments,shipping,profile,reviews"


def pids_of(data_dir: Path) -> dict[str, int]:
    state = json.loads(state_file(data_dir).read_text())
    return {name: int(entry["pid"]) for name, entry in state.items() if entry.get("pid")}


def print_cpu(label: str, cpu: dict[str, float]) -> None:
    busy = {name: ms for name, ms in cpu.items() if ms >= 0.05}
    total = sum(cpu.values())
    parts = "  ".join(f"{name} {ms:.2f}" for name, ms in sorted(busy.items(), key=lambda x: -x[1]))
    print(f"    {label:<12} {total:6.2f} ms in all: {parts}")


async def checkout_all(
    client: Client, people: list[str], limit: int
) -> tuple[list[float], Counter[int], list[int], float]:
    gate = asyncio.Semaphore(limit)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    orders: list[int] = []

    async def one(token: str) -> None:
        async with gate:
            started = time.perf_counter()
            status, body = await client.call("POST", "/orders/", token)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if status == 201:
                orders.append(int(body["order_id"]))

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in people))
    return latencies, statuses, orders, time.perf_counter() - started


async def double_charges(offset: int, tokens: TokenFactory, orders: list[int]) -> int:
    """Orders with more than one payment recorded under their reference."""
    port = port_table(offset).services["payments"].grpc
    metadata = bearer(tokens.service("orders"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        doubled = 0
        for order_id in orders:
            reply = await payments.ListPayments(
                payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}", page_size=10),
                metadata=metadata,
            )
            doubled += len(reply.payments) > 1
    return doubled


def floor_rows(base: str, token: str, product_id: int) -> None:
    env = {
        "HDR": f"Authorization: Bearer {token}",
        "FLOOR_HTTP_PORT": os.environ.get("FLOOR_HTTP_PORT", "8271"),
        "FLOOR_GRPC_PORT": os.environ.get("FLOOR_GRPC_PORT", "50271"),
    }
    urls = [f"product={base}/products/{product_id}", f"cart_read={base}/cart/"]
    done = run_floor(urls, timeout=600, env=env)
    if done is None:
        print(f"  floor: {FLOOR} not found, skipped")
        return
    print("  floor (../shared/floor/run.sh, same run):")
    for line in done.stdout.splitlines():
        print(f"    {line}")
    if done.returncode:
        print(f"    floor run failed ({done.returncode}): {done.stderr[-500:]}")


async def variant(args: argparse.Namespace, name: str, database_url: str | None) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-throughput-"))
    keys = ensure_keys(data_dir)
    tokens = TokenFactory(keys.private_key.read_bytes())
    admin = tokens.admin()
    if database_url:
        os.environ["SHOP_DATABASE_URL"] = database_url
    else:
        os.environ.pop("SHOP_DATABASE_URL", None)
    print(f"\n== {name} ==")
    async with launcher(data_dir, args.port_offset, SERVICES):
        pids = pids_of(data_dir)
        base = f"http://127.0.0.1:{port_table(args.port_offset).gateway_http}/api"
        connector = aiohttp.TCPConnector(limit=max(args.concurrency, 10))
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        ) as session:
            client = Client(session, base)
            shown = await product(client, admin, 10**6)
            reader = tokens.customer(random.randint(10**9, 10**12))
            if args.floor and database_url is None:
                await client.call("POST", "/cart/", reader, {"product_id": shown, "quantity": 1})
                floor_rows(base, reader, shown)

            print(f"  CPU per request per process (ms; {args.requests} requests each):")
            for _ in range(50):
                await client.call("GET", f"/products/{shown}", reader)
            before = snapshot(pids)
            gate = asyncio.Semaphore(args.concurrency)

            async def get() -> None:
                async with gate:
                    await client.call("GET", f"/products/{shown}", reader)

            await asyncio.gather(*(get() for _ in range(args.requests)))
            print_cpu("product GET", per_request_ms(before, snapshot(pids), args.requests))
            before = snapshot(pids)
            await customers(client, tokens, [shown], args.requests, args.concurrency)
            print_cpu("cart add", per_request_ms(before, snapshot(pids), args.requests))

            warm = [await product(client, admin, 20)]
            await checkout_all(
                client, await customers(client, tokens, warm, 20, args.concurrency), args.concurrency
            )
            for label, spread in (("many products", 50), ("one hot product", 1)):
                count = args.checkouts
                units = [count // spread + (n < count % spread) for n in range(spread)]
                product_ids = [await product(client, admin, u) for u in units]
                people = await customers(client, tokens, product_ids, count, args.concurrency)
                # Twice as many shoppers as units: the second half must be refused, not oversold.
                people += await customers(client, tokens, product_ids, count, args.concurrency)
                before = snapshot(pids)
                latencies, statuses, orders, elapsed = await checkout_all(client, people, args.concurrency)
                # Per checkout request, paid or refused (half of them find no stock left).
                cpu = per_request_ms(before, snapshot(pids), len(people))
                left = await settled_stock(client, admin, product_ids)
                doubled = await double_charges(args.port_offset, tokens, orders)
                ms = [x * 1000 for x in latencies]
                oversold = max(0, len(orders) - count) + max(0, -left)
                print(
                    f"  checkout, {label}: {len(orders)} orders/{len(people)} shoppers, "
                    f"{len(orders) / elapsed:.1f} orders/s ({len(people) / elapsed:.1f} answers/s), "
                    f"p50 {percentile(ms, 0.5):.0f} ms  p99 {percentile(ms, 0.99):.0f} ms, "
                    f"answers {dict(sorted(statuses.items()))}, stock left {left}, "
                    f"oversold {oversold}, double charges {doubled}"
                )
                print_cpu("checkout", cpu)
    shutil.rmtree(data_dir, ignore_errors=True)


async def main(args: argparse.Namespace) -> None:
    print(
        f"throughput benchmark: {args.checkouts} units per scenario, {args.concurrency} concurrent shoppers, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if not args.skip_sqlite:
        await variant(args, "SQLite (a file per service)", None)
    if args.postgres:
        server = args.postgres.replace("+asyncpg", "")
        name = f"shop_perf_{random.randrange(10**8)}"
        admin = await asyncpg.connect(server + "postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await variant(args, "PostgreSQL", args.postgres + name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkouts", type=int, default=400)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port-offset", type=int, default=7000)
    parser.add_argument(
        "--postgres",
        default="",
        help="a server URL ending in /, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/",
    )
    parser.add_argument("--floor", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    asyncio.run(main(parser.parse_args()))
