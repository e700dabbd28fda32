"""The per-RPC log line follows SHOP_RPC_LOG_SAMPLE: 0 keeps only failed calls, 1 every call; RED
metrics count every call either way. A real catalog service on a real port."""

from __future__ import annotations

import logging

import grpc
import pytest

from services.catalog.service import build as build_catalog
from services.kit.clients import CHANNEL_OPTIONS
from services.kit.server import start
from services.kit.telemetry import RPC_REQUESTS
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.support.harness import Platform
from tests.support.ports import free_port


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """This test's anonymous calls (services left running by other tests log their own)."""
    return [
        (r.method, r.code)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "shop.rpc" and r.msg == "rpc" and getattr(r, "caller", "") == "anonymous"
    ]


@pytest.mark.parametrize("sample", [0.0, 1.0])
async def test_the_rpc_log_line_is_sampled_and_failures_always_logged(
    platform: Platform, caplog: pytest.LogCaptureFixture, sample: float
) -> None:
    settings = platform.settings("catalog", grpc_port=free_port(), rpc_log_sample=sample)
    running = await start(settings, build_catalog)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}", options=CHANNEL_OPTIONS)
    catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
    served = RPC_REQUESTS.labels("catalog", "ListProducts", "OK")
    before = served._value.get()
    try:
        with caplog.at_level(logging.INFO, logger="shop.rpc"):
            for _ in range(3):
                await catalog.ListProducts(catalog_pb2.ListProductsRequest(page_size=1))
            with pytest.raises(grpc.aio.AioRpcError):
                await catalog.GetProduct(catalog_pb2.GetProductRequest(id=10**12))
    finally:
        await running.stop(grace=0)
        await channel.close()

    method = "/shop.catalog.v1.CatalogService/"
    failed = [(method + "GetProduct", "NOT_FOUND")]
    assert _lines(caplog) == ([(method + "ListProducts", "OK")] * 3 if sample else []) + failed
    assert served._value.get() - before == 3
