"""The per-RPC log line follows SHOP_RPC_LOG_SAMPLE: 0 keeps only failed calls, 1 every call; RED
metrics count every call either way; the lines of a gateway request's calls carry its id. Real
services on real ports."""

from __future__ import annotations

import json
import logging
from uuid import uuid4

import grpc
import pytest

from services.catalog.service import build as build_catalog
from services.kit import logs
from services.kit.clients import CHANNEL_OPTIONS
from services.kit.server import start
from services.kit.telemetry import RPC_REQUESTS
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer


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


async def test_the_gateway_request_id_is_in_every_service_a_call_reaches(
    platform: Platform, caplog: pytest.LogCaptureFixture, tokens: TokenFactory
) -> None:
    """Catalog sets a product's stock in inventory: both services' lines carry the request's id."""
    for name in ("auth", "inventory", "catalog"):
        await platform.start(name)
    catalog = platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    request_id = f"req-{uuid4().hex}"
    metadata = (*bearer(tokens.admin()), ("x-request-id", request_id))
    with caplog.at_level(logging.INFO, logger="shop.rpc"):
        await catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                name="Traced", price=common_pb2.Money(amount_minor=100, currency="USD"), stock=2
            ),
            metadata=metadata,
        )
        # An id that is not one the gateway makes is left out.
        await catalog.ListProducts(
            catalog_pb2.ListProductsRequest(page_size=1), metadata=(("x-request-id", "bad id; drop"),)
        )
    lines = [r for r in caplog.records if r.name == "shop.rpc" and r.msg == "rpc"]
    tagged = {r.method for r in lines if getattr(r, "request_id", "") == request_id}  # type: ignore[attr-defined]
    # (And the catalog's service token from auth, when it had none yet.)
    assert tagged - {"/shop.auth.v1.AuthService/IssueServiceToken"} == {
        "/shop.catalog.v1.CatalogService/CreateProduct",
        "/shop.inventory.v1.InventoryService/SetStock",
    }
    listed = [r for r in lines if r.method.endswith("/ListProducts")]  # type: ignore[attr-defined]
    assert listed
    assert not [r for r in listed if hasattr(r, "request_id")]


def test_log_lines_written_for_a_request_carry_its_id() -> None:
    record = logging.makeLogRecord({"name": "shop.test", "msg": "hello", "levelname": "INFO"})
    token = logs.set_request_id("req-1")
    try:
        inside = json.loads(logs.JsonFormatter("test").format(record))
        text = logs.TextFormatter("test").format(record)
    finally:
        logs.reset_request_id(token)
    assert inside["request_id"] == "req-1"
    assert "'request_id': 'req-1'" in text
    assert "request_id" not in json.loads(logs.JsonFormatter("test").format(record))
