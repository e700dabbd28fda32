"""The runtime's health reflects dependencies as they come and go, and a drain stops new work."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.redis_server import EmbeddedRedis
from services.cart.service import build as build_cart
from services.kit import completion
from services.kit.clients import CHANNEL_OPTIONS
from services.kit.config import ServiceSettings, load
from services.kit.server import Registration, Runtime, start
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.ports import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(stub: health_pb2_grpc.HealthStub, service: str = "") -> int:
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    status: int = reply.status
    return status


async def _wait_for(stub: health_pb2_grpc.HealthStub, want: int, seconds: float = 10) -> None:
    await eventually(lambda: _status(stub), lambda got: got == want, within=seconds)


async def test_health_follows_redis_going_away_and_coming_back(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder, port = tmp_path_factory.mktemp("health-redis"), free_port()
    redis = EmbeddedRedis(folder, port)
    await redis.start()
    settings = platform.settings(
        "cart", grpc_port=free_port(), redis_url=redis.url, health_check_interval_seconds=0.1
    )
    running = await start(settings, build_cart)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}", options=CHANNEL_OPTIONS)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        assert await _status(health) == SERVING
        assert await _status(health, "shop.cart.v1.CartService") == SERVING
        await redis.stop()
        await _wait_for(health, NOT_SERVING)
        assert await _status(health, "shop.cart.v1.CartService") == NOT_SERVING
        redis = EmbeddedRedis(folder, port)
        await redis.start()
        await _wait_for(health, SERVING)
    finally:
        await running.stop(grace=0)
        await channel.close()
        await redis.stop()


async def test_a_draining_service_reports_not_serving(platform: Platform) -> None:
    # NOT_SERVING lasts the shutdown delay: long enough to be seen on a busy machine.
    settings = platform.settings("catalog", grpc_port=free_port(), shutdown_delay_seconds=2)
    from services.catalog.service import build as build_catalog

    running = await start(settings, build_catalog)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}", options=CHANNEL_OPTIONS)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        assert await _status(health) == SERVING
        stopping = asyncio.create_task(running.stop(grace=1))
        await _wait_for(health, NOT_SERVING)
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _status(health)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close()


async def test_background_work_ends_with_the_service(platform: Platform) -> None:
    from services.catalog.service import build as build_catalog

    ticks: list[int] = []
    unwound = asyncio.Event()

    async def ticking() -> None:
        try:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)
        finally:
            unwound.set()

    async def build(runtime: Runtime) -> Sequence[Registration]:
        runtime.background(ticking(), "ticking")
        return await build_catalog(runtime)

    running = await start(platform.settings("catalog", grpc_port=free_port()), build)
    await asyncio.sleep(0.05)
    assert ticks, "the background work never ran"
    await running.stop(grace=0)
    assert unwound.is_set(), "stop returned while the background work still ran"
    seen = len(ticks)
    await asyncio.sleep(0.05)
    assert len(ticks) == seen


async def test_a_service_reads_its_own_settings_from_the_environment(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.shipping.service import Settings as ShippingSettings

    monkeypatch.setenv("SHOP_ORDER_SYNC_INTERVAL_SECONDS", "7.5")
    base = load(ServiceSettings, **platform.env(), service_name="shipping", grpc_port=4321)
    assert not isinstance(base, ShippingSettings)
    own = Runtime(settings=base, stack=AsyncExitStack()).settings_as(ShippingSettings)
    assert own.order_sync_interval_seconds == 7.5
    assert own.grpc_port == 4321
    assert own.service_name == "shipping"


async def test_stopping_waits_for_work_that_must_complete(platform: Platform) -> None:
    from services.catalog.service import build as build_catalog

    running = await start(platform.settings("catalog", grpc_port=free_port()), build_catalog)
    finished = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.3)
        finished.set()

    rpc = asyncio.ensure_future(completion.to_completion(work()))
    await asyncio.sleep(0)
    rpc.cancel()  # the RPC that started the work went away; the work goes on
    await running.stop(grace=5)
    assert finished.is_set(), "the service stopped before the work it had started was done"
