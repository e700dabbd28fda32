"""Benchmark of the per-call token check every service runs (not a test).

    .venv/bin/python -m benchmarks.token_check [--calls 20000] [--redis-url redis://127.0.0.1:6379/0]

Checks one customer token `--calls` times in this process, three ways, and prints the CPU time
and wall time per check: the signature alone (what services did before revocation was checked
everywhere), `TokenChecker.check` with its caches (subscribed to the revocation channel, the usual
case), and `TokenChecker.check` with the cache off (one Redis MGET per call, as while the channel
is down). Needs a Redis server; it writes nothing there but a subscription.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

from deploy.local.keys import ensure_keys
from services.kit import redis as kit_redis
from services.kit.principal import TokenVerifier
from services.kit.revocation import RevocationList, TokenChecker
from tests.support.tokens import TokenFactory


async def _measure(calls: int, check: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(CPU µs, wall µs) per call."""
    for _ in range(min(calls, 500)):
        await check()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await check()
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


async def main(calls: int, redis_url: str) -> None:
    keys = ensure_keys(Path(tempfile.mkdtemp(prefix="token-bench-")))
    token = TokenFactory(keys.private_key.read_bytes()).customer(9_900_001)
    verifier = TokenVerifier(keys.public_key.read_bytes())
    client = kit_redis.connect(redis_url)
    revocations = RevocationList(client, f"bench-{uuid4().hex[:8]}:")
    cached = TokenChecker(verifier, revocations, cache_seconds=3600)
    uncached = TokenChecker(verifier, revocations, cache_seconds=0)
    listener = asyncio.create_task(cached.listen())
    try:
        for _ in range(1000):
            if cached.subscribed:
                break
            await asyncio.sleep(0.01)

        async def signature() -> object:
            return verifier.verify(token)

        rows = [
            ("signature only", await _measure(calls, signature)),
            ("check, cached", await _measure(calls, lambda: cached.check(token))),
            ("check, Redis each call", await _measure(calls, lambda: uncached.check(token))),
        ]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()
    print(f"{calls} checks each")
    print("| check | CPU per call | wall per call |")
    print("|---|---|---|")
    for name, (cpu, wall) in rows:
        print(f"| {name} | {cpu:.1f} µs | {wall:.1f} µs |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.redis_url))
