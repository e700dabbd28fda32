"""Benchmark of activity recording (not a test): ingestion rate and the latency recording adds.

    .venv/bin/python -m benchmarks.activity_ingest [--events 50000] [--requests 2000] [--port-offset 700]

Starts a local platform of its own in a temporary data folder with the launcher
(`python -m deploy.local --no-gateway --services auth,catalog,inventory,reviews,activity`, shifted by
SHOP_PORT_OFFSET, embedded Redis, SQLite unless SHOP_DATABASE_URL is set), then in this process:

1. Ingestion: `--events` events through the gateway's `ActivityRecorder` (the same object and code
   path `ctx.record` uses: in-memory queue -> pipelined XADD MAXLEN ~), consumed by the activity
   service's consumer group and committed to its database. Reported: the XADD rate, and the
   end-to-end rate until the group has nothing left to deliver or acknowledge (XACK follows the
   commit), checked against the stored count.
2. Latency: two gateway apps on 127.0.0.1, recording on and off, `--requests` sequential
   GET /api/products/{id} each (interleaved blocks, after a warm-up); p50/p90/p99 per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from benchmarks.platform import launcher, percentile
from deploy.local.keys import ensure_keys
from deploy.local.ports import port_table
from gateway.activity import ActivityRecorder
from gateway.app import create_app
from gateway.settings import GatewaySettings, load_settings
from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from tests.support.tokens import TokenFactory, bearer

SERVICES = "auth,catalog,inventory,reviews,activity"
BLOCK = 100


def settings_for(data_dir: Path, offset: int, recording: bool, **overrides: Any) -> GatewaySettings:
    ports = port_table(offset)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "port": 0,
        "metrics_port": 0,
        "redis_url": f"redis://127.0.0.1:{ports.redis}/0",
        "activity_recording": recording,
        "log_level": "WARNING",
        **{f"{name}_addr": p.addr for name, p in ports.services.items()},
    }
    return load_settings(**{**values, **overrides})


async def product(settings: GatewaySettings, tokens: TokenFactory) -> int:
    async with grpc.aio.insecure_channel(settings.address_of("catalog")) as channel:
        reply = await catalog_pb2_grpc.CatalogServiceStub(channel).CreateProduct(
            catalog_pb2.CreateProductRequest(
                name="Benchmark kettle", price=common_pb2.Money(amount_minor=2500, currency="USD")
            ),
            metadata=bearer(tokens.admin()),
        )
        product_id: int = reply.product.id
        return product_id


async def stored_views(settings: GatewaySettings, product_id: int) -> int:
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    end.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    async with grpc.aio.insecure_channel(settings.address_of("activity")) as channel:
        reply = await activity_pb2_grpc.ActivityServiceStub(channel).ListPopularProducts(
            activity_pb2.ListPopularProductsRequest(
                type=activity_pb2.EVENT_TYPE_PRODUCT_VIEWED, start_time=start, end_time=end, page_size=500
            )
        )
    return next((p.count for p in reply.products if p.product_id == product_id), 0)


async def group_done(redis: Any, key: str) -> bool:
    groups = await redis.xinfo_groups(key)
    group = next((g for g in groups if g["name"] == stream.GROUP), None)
    return group is not None and group["lag"] == 0 and group["pending"] == 0


async def ingest(settings: GatewaySettings, events: int) -> None:
    assert settings.redis_url
    redis = kit_redis.connect(settings.redis_url)
    key = stream.stream_key(settings.redis_prefix)
    # A product id of its own, so the stored count can be checked exactly.
    product_id = 9_000_000_000 + int(time.time())
    recorder = ActivityRecorder(redis, key, queue_size=settings.activity_queue_size)
    recorder.start()
    started = time.perf_counter()
    for n in range(events):
        if recorder.queued >= settings.activity_queue_size - 1:
            await recorder.flush()  # the bounded queue is full: let the writer catch up
        recorder.record("product_viewed", caller=None, product_id=product_id, attributes={"n": str(n)})
    await recorder.flush()
    written_at = time.perf_counter()
    deadline = time.monotonic() + 600
    while not await group_done(redis, key):
        if time.monotonic() > deadline:
            raise SystemExit("the activity service did not catch up within 10 minutes")
        await asyncio.sleep(0.02)
    done_at = time.perf_counter()
    await recorder.close()
    await redis.aclose()
    stored = await stored_views(settings, product_id)
    print(f"ingestion: {events} events, dropped {recorder.dropped}, stored {stored}")
    print(f"  recorder -> Redis (XADD):            {events / (written_at - started):>9,.0f} events/s")
    print(f"  recorder -> Redis -> activity DB:    {events / (done_at - started):>9,.0f} events/s sustained")
    if stored != events:
        raise SystemExit(f"stored {stored} of {events} events")


# Latency modes: recording off; on (consumed by the activity service on this same machine); on into
# a stream nobody consumes (the gateway's own cost, without the consumer competing for the CPUs).
MODES: dict[str, dict[str, Any]] = {
    "off": {"activity_recording": False},
    "on": {},
    "on, unconsumed": {"redis_prefix": "shop-bench-unconsumed:"},
}


async def latency(data_dir: Path, offset: int, requests: int, tokens: TokenFactory) -> None:
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    for mode, overrides in MODES.items():
        settings = settings_for(data_dir, offset, True, **overrides)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        urls[mode] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    product_id = await product(settings_for(data_dir, offset, False), tokens)
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        async with aiohttp.ClientSession() as session:

            async def one(mode: str) -> float:
                started = time.perf_counter()
                async with session.get(f"{urls[mode]}/api/products/{product_id}") as response:
                    await response.read()
                    assert response.status == 200, response.status
                return time.perf_counter() - started

            for mode in MODES:  # warm-up: connections, the gateway's service token
                for _ in range(200):
                    await one(mode)
            # Interleaved blocks, so a load change on the machine hits every mode alike.
            for _ in range(requests // BLOCK):
                for mode in MODES:
                    samples[mode] += [await one(mode) for _ in range(BLOCK)]
    finally:
        for runner in runners:
            await runner.cleanup()
        redis = kit_redis.connect(settings_for(data_dir, offset, True).redis_url or "")
        await redis.delete(stream.stream_key(MODES["on, unconsumed"]["redis_prefix"]))
        await redis.aclose()
    print(f"latency: GET /api/products/{{id}}, {len(samples['off'])} sequential requests per mode")
    for mode, taken in samples.items():
        ms = [s * 1000 for s in taken]
        print(
            f"  recording {mode:<15} p50 {percentile(ms, 0.5):7.3f} ms  p90 {percentile(ms, 0.9):7.3f} ms  "
            f"p99 {percentile(ms, 0.99):7.3f} ms  mean {statistics.fmean(ms):7.3f} ms"
        )
    off = samples["off"]
    for mode in ("on", "on, unconsumed"):
        on = samples[mode]
        print(
            f"  added ({mode}): p50 {1000 * (percentile(on, 0.5) - percentile(off, 0.5)):+.3f} ms, "
            f"p99 {1000 * (percentile(on, 0.99) - percentile(off, 0.99)):+.3f} ms"
        )
    # What the request itself pays: ctx.record only queues (the XADD happens on a background task).
    recorder = ActivityRecorder(kit_redis.connect("redis://127.0.0.1:1/0"), "unused", queue_size=100_000)
    started = time.perf_counter()
    for _ in range(50_000):
        recorder.record("product_viewed", caller=None, product_id=product_id)
    per_call = (time.perf_counter() - started) / 50_000
    print(f"  on the request path, ctx.record costs {per_call * 1e6:.1f} us per event (queue only)")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--port-offset", type=int, default=700)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    tokens = TokenFactory(ensure_keys(data_dir).private_key.read_bytes())
    print(f"platform: {SERVICES} via deploy.local, offset {args.port_offset}, data {data_dir}")
    print(f"database: {os.environ.get('SHOP_DATABASE_URL') or 'SQLite per service'}; Redis: embedded")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    try:
        async with launcher(data_dir, args.port_offset, SERVICES, gateway=False):
            await ingest(settings_for(data_dir, args.port_offset, True), args.events)
            await latency(data_dir, args.port_offset, args.requests, tokens)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
