"""The per-client rate limit (gateway/rate_limit.py) through two gateway replicas sharing one Redis.
Each client is an X-Forwarded-For address no other test uses (one trusted proxy in front)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, assert_error, gateway_settings
from tests.support.harness import Platform

_ADDRESSES = itertools.count(1)
# A route that needs no service behind the gateway: the limit is the only thing that can refuse it.
PATH = "/api/openapi.json"


def _client() -> dict[str, str]:
    n = next(_ADDRESSES)
    return {"X-Forwarded-For": f"203.0.{n // 250 % 256}.{n % 250 + 1}"}


@asynccontextmanager
async def _replicas(platform: Platform, **limits: Any) -> AsyncIterator[tuple[Api, Api]]:
    settings = gateway_settings(platform, forwarded_hops=1, **limits)
    async with (
        TestClient(TestServer(create_app(settings))) as one,
        TestClient(TestServer(create_app(settings))) as two,
    ):
        yield Api(one), Api(two)


async def test_a_client_past_its_burst_waits_on_every_replica_and_others_do_not(platform: Platform) -> None:
    async with _replicas(platform, rate_limit_per_second=0.5, rate_limit_burst=6) as (one, two):
        client = _client()
        for i in range(6):  # the burst, spread over both replicas
            assert (await (one, two)[i % 2].get(PATH, headers=client)).status == 200
        for api in (one, two):
            refused = await api.get(PATH, headers=client)
            assert_error(refused, 429, mentions="Too many requests")
            assert 1 <= int(refused.headers["Retry-After"]) <= 2
        # Another address, and the liveness probe, are not held back.
        assert (await one.get(PATH, headers=_client())).status == 200
        assert (await one.get("/api/health", headers=client)).status == 200
        # One request every two seconds comes back.
        await asyncio.sleep(2.2)
        assert (await two.get(PATH, headers=client)).status == 200
        assert (await one.get(PATH, headers=client)).status == 429


async def test_replicas_taking_requests_in_handfuls_never_let_a_client_past_its_budget(
    platform: Platform,
) -> None:
    rate, burst = 50, 40  # each replica takes 5 requests of the budget at a time
    async with _replicas(platform, rate_limit_per_second=rate, rate_limit_burst=burst) as (one, two):
        client = _client()
        started = time.monotonic()
        answers = await asyncio.gather(*((one, two)[i % 2].get(PATH, headers=client) for i in range(200)))
        elapsed = time.monotonic() - started
    admitted = sum(a.status == 200 for a in answers)
    assert {a.status for a in answers} <= {200, 429}
    # The shared bucket: the burst plus what refilled while the requests ran, never more; and no
    # less than that but for a handful each replica took and had no request left to spend on.
    assert burst - 2 * 5 <= admitted <= burst + math.ceil(rate * elapsed), (admitted, elapsed)


async def test_off_unless_set(api: Api) -> None:
    """The embedded default: one developer, tests and benchmarks all come from one address."""
    answers = await asyncio.gather(*(api.get(PATH) for _ in range(300)))
    assert {a.status for a in answers} == {200}
