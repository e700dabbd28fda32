"""CPU per trivial RPC in the called service (not a test): what the kit costs per call.

    .venv/bin/python -m benchmarks.rpc_cost [--calls 3000] [--concurrency 8] [--port-offset 7000]

Starts auth, catalog, inventory and reviews with the real launcher (its own temporary data folder,
SQLite unless SHOP_DATABASE_URL is set, embedded Redis, loopback only, SHOP_LOG_LEVEL=WARNING as the
other benchmarks; pass --log-level INFO to pay for a log line per RPC), creates one product, then
for each RPC sends `--calls` calls over one channel, `--concurrency` in flight, and reads the
service process's CPU time (user + system, all threads) from /proc/<pid>/stat before and after.
Printed per RPC: CPU ms per call in the service, and calls/s (the machine is shared: compare CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from benchmarks.platform import launcher
from benchmarks.procstat import cpu_seconds
from deploy.local.keys import ensure_keys
from deploy.local.ports import port_table
from deploy.local.supervisor import state_file
from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc
from tests.support.tokens import TokenFactory, bearer

SERVICES = "auth,catalog,inventory,reviews"
WARM_UP = 300


async def drive(call: Callable[[], Awaitable[Any]], calls: int, concurrency: int) -> float:
    """Sends `calls` calls, `concurrency` at a time; returns the wall time taken."""
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(
    name: str, pid: int, call: Callable[[], Awaitable[Any]], args: argparse.Namespace
) -> tuple[str, float, float]:
    await drive(call, WARM_UP, args.concurrency)
    before = cpu_seconds(pid)
    elapsed = await drive(call, args.calls, args.concurrency)
    used = cpu_seconds(pid) - before
    return name, 1000 * used / args.calls, args.calls / elapsed


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-rpc-"))
    keys = ensure_keys(data_dir)
    tokens = TokenFactory(keys.private_key.read_bytes())
    admin = bearer(tokens.admin())
    service = bearer(tokens.service("orders"))
    ports = port_table(args.port_offset).services
    rows = []
    async with launcher(data_dir, args.port_offset, SERVICES, gateway=False, log_level=args.log_level):
        pids = {
            name: int(entry["pid"]) for name, entry in json.loads(state_file(data_dir).read_text()).items()
        }
        channels = {n: grpc.aio.insecure_channel(f"127.0.0.1:{ports[n].grpc}") for n in SERVICES.split(",")}
        auth = auth_pb2_grpc.AuthServiceStub(channels["auth"])
        catalog = catalog_pb2_grpc.CatalogServiceStub(channels["catalog"])
        inventory = inventory_pb2_grpc.InventoryServiceStub(channels["inventory"])
        reviews = reviews_pb2_grpc.ReviewsServiceStub(channels["reviews"])
        created = await catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                name="Bench kettle", price=common_pb2.Money(amount_minor=2500, currency="EUR")
            ),
            metadata=admin,
        )
        product_id = created.product.id
        get_product = catalog_pb2.GetProductRequest(id=product_id)
        get_stock = inventory_pb2.GetStockRequest(product_id=product_id)
        summaries = reviews_pb2.BatchGetRatingSummariesRequest(product_ids=[product_id])
        public_keys = auth_pb2.GetPublicKeysRequest()
        targets: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
            # No data access: the kit's own cost per call (interceptor, span, metrics) and grpc.aio's.
            ("auth.GetPublicKeys (the kit alone)", "auth", lambda: auth.GetPublicKeys(public_keys)),
            ("catalog.GetProduct (anonymous)", "catalog", lambda: catalog.GetProduct(get_product)),
            (
                "inventory.GetStock (service token)",
                "inventory",
                lambda: inventory.GetStock(get_stock, metadata=service),
            ),
            (
                "reviews.BatchGetRatingSummaries",
                "reviews",
                lambda: reviews.BatchGetRatingSummaries(summaries),
            ),
        ]
        for label, process, call in targets:
            rows.append(await measure(label, pids[process], call, args))
        await asyncio.gather(*(c.close() for c in channels.values()))

    database = "SHOP_DATABASE_URL" if os.environ.get("SHOP_DATABASE_URL") else "SQLite"
    print(
        f"rpc cost: {args.calls} calls per RPC at concurrency {args.concurrency}, {database}, "
        f"log level {args.log_level}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"  {'RPC':<40} {'CPU ms/call':>12} {'calls/s':>9}")
    for label, ms, rate in rows:
        print(f"  {label:<40} {ms:12.3f} {rate:9.0f}")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port-offset", type=int, default=7000)
    parser.add_argument("--log-level", default="WARNING")
    asyncio.run(main(parser.parse_args()))
