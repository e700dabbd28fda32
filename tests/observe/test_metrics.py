"""What an SRE reads moves with what shoppers do: checkouts through the real gateway change the
checkout outcome, revenue, payment, cart and RPC metrics by exactly what happened. The services
run in this process, so their metrics share one registry."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from gateway.conftest import Api
from services.catalog import metrics as catalog_metrics
from services.inventory import metrics as inventory_metrics
from services.kit import activity_stream as stream
from services.kit.database import Database
from services.orders import metrics as orders_metrics
from services.payments.providers import TIMEOUT_CARD
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.support.cards import tokenize
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.tokens import TokenFactory, bearer

DECLINED_CARD = "4000000000000002"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _card(platform: Platform, number: str) -> dict[str, Any]:
    """A checkout body paying with the card, tokenized at payments first as a browser would."""
    return {"payment": {"token": await tokenize(platform, number)}}


async def _shop(http: Api, tokens: TokenFactory, stock: int, quantity: int, price: float = 2.5) -> str:
    return (await _shopper(http, tokens, stock, quantity, price))[0]


async def _shopper(
    http: Api, tokens: TokenFactory, stock: int, quantity: int, price: float = 2.5
) -> tuple[str, int]:
    """A new customer whose cart holds `quantity` of a new product with `stock` units."""
    admin = tokens.admin()
    product = await http.post(
        "/products/", {"name": f"Metered {uuid4().hex[:8]}", "price": price, "stock": stock}, token=admin
    )
    assert product.status == 201, product
    customer = tokens.customer(int(uuid4().int % 10**12) + 1)
    added = await http.post(
        "/cart/", {"product_id": product.body["id"], "quantity": quantity}, token=customer
    )
    assert added.status == 201, added
    return customer, product.body["id"]


async def test_checkout_outcomes_revenue_and_payments_are_counted(
    http: Api, tokens: TokenFactory, platform: Platform
) -> None:
    outcomes = ("paid", "out_of_stock", "declined", "payment_unavailable")
    before = {o: _sample("shop_checkout_outcomes_total", outcome=o) for o in outcomes}
    revenue = _sample("shop_orders_revenue_minor_total", currency="USD")
    charged = _sample("shop_payments_operations_total", operation="charge", outcome="succeeded")
    declined = _sample("shop_payments_operations_total", operation="charge", outcome="declined")
    failed = _sample("shop_payments_operations_total", operation="charge", outcome="failed")
    adds = _sample("shop_cart_adds_total")
    calls = _sample(
        "shop_rpc_client_requests_total", service="gateway", target="orders", method="CreateOrder", code="OK"
    )
    served = _sample(
        "shop_rpc_server_duration_seconds_count", service="orders", method="CreateOrder", code="OK"
    )

    paid = await http.post("/orders/", token=await _shop(http, tokens, stock=5, quantity=2, price=2.5))
    assert paid.status == 201, paid
    short = await http.post("/orders/", token=await _shop(http, tokens, stock=1, quantity=2))
    assert short.status == 409, short
    refused = await http.post(
        "/orders/", await _card(platform, DECLINED_CARD), token=await _shop(http, tokens, stock=5, quantity=1)
    )
    assert refused.status == 409, refused
    timed_out = await http.post(
        "/orders/", await _card(platform, TIMEOUT_CARD), token=await _shop(http, tokens, stock=5, quantity=1)
    )
    assert timed_out.status == 503, timed_out

    after = {o: _sample("shop_checkout_outcomes_total", outcome=o) for o in outcomes}
    assert {o: after[o] - before[o] for o in outcomes} == dict.fromkeys(outcomes, 1.0)
    assert _sample("shop_orders_revenue_minor_total", currency="USD") - revenue == 500  # 2 x 2.50
    assert _sample("shop_payments_operations_total", operation="charge", outcome="succeeded") - charged == 1
    assert _sample("shop_payments_operations_total", operation="charge", outcome="declined") - declined == 1
    assert _sample("shop_payments_operations_total", operation="charge", outcome="failed") - failed == 1
    assert _sample("shop_cart_adds_total") - adds == 4
    # The gateway's own view of its calls, and orders' server-side time, both by status code.
    assert (
        _sample(
            "shop_rpc_client_requests_total",
            service="gateway",
            target="orders",
            method="CreateOrder",
            code="OK",
        )
        - calls
        == 1
    )
    assert (
        _sample("shop_rpc_server_duration_seconds_count", service="orders", method="CreateOrder", code="OK")
        - served
        == 1
    )
    assert (
        _sample(
            "shop_rpc_client_requests_total",
            service="gateway",
            target="orders",
            method="CreateOrder",
            code="FAILED_PRECONDITION",
        )
        >= 2
    )


async def test_gauges_read_from_storage_follow_it(
    http: Api, tokens: TokenFactory, platform: Platform
) -> None:
    catalog = platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    admin = bearer(tokens.admin())

    async def refresh_all() -> None:
        for name, refresher in (
            ("orders", orders_metrics.refresher),
            ("inventory", inventory_metrics.refresher),
            ("catalog", catalog_metrics.refresher),
        ):
            db = Database(platform.settings(name).resolved_database_url())
            try:
                await refresher(db)()
            finally:
                await db.close()

    async def in_stock(product_id: int, value: bool) -> None:
        # What the catalog's signals pass writes once it sees inventory's figure.
        await catalog.SetProductSignals(
            catalog_pb2.SetProductSignalsRequest(product_id=product_id, in_stock=value), metadata=admin
        )

    customer, product = await _shopper(http, tokens, stock=4, quantity=4)
    await in_stock(product, True)
    await refresh_all()
    on_sale = _sample("shop_catalog_products_active")
    out_of_stock = _sample("shop_catalog_active_products_out_of_stock")
    assert on_sale >= 1

    placed = await http.post("/orders/", token=customer)
    assert placed.status == 201, placed
    await in_stock(product, False)
    await refresh_all()
    assert _sample("shop_orders_by_status", status="paid") >= 1
    # Sold out and still on sale: what ShopActiveProductOutOfStock counts.
    assert _sample("shop_catalog_active_products_out_of_stock") == out_of_stock + 1
    assert _sample("shop_catalog_products_active") == on_sale

    deleted = await http.delete(f"/products/{product}", token=tokens.admin())
    assert deleted.status in (200, 204), deleted
    await refresh_all()
    assert _sample("shop_catalog_active_products_out_of_stock") == out_of_stock
    assert _sample("shop_catalog_products_active") == on_sale - 1


async def test_the_stream_consumer_counts_what_it_stores_and_skips(http: Api, platform: Platform) -> None:
    redis = aioredis.Redis.from_url(platform.redis_url, decode_responses=True)
    key = stream.stream_key(platform.redis_prefix)
    try:
        # Earlier tests' events out of the way first: stored entries leave the stream.
        await asyncio.sleep(0.2)  # events of requests that just ended may still be on their way
        await eventually(lambda: redis.xlen(key), lambda length: length == 0)
        stored = _sample("shop_activity_stream_consumed_total", outcome="stored")
        malformed = _sample("shop_activity_stream_consumed_total", outcome="malformed")
        event = stream.StreamEvent(type=stream.TYPES_BY_NAME["searched"], query="socks")
        for _ in range(3):
            await redis.xadd(key, event.fields())
        await redis.xadd(key, {"e": '{"t":"searched"}'})  # not the contract: skipped

        async def skipped() -> float:
            return _sample("shop_activity_stream_consumed_total", outcome="malformed")

        await eventually(skipped, lambda count: count > malformed)
    finally:
        await redis.aclose()
    assert _sample("shop_activity_stream_consumed_total", outcome="stored") - stored == 3
    assert _sample("shop_activity_stream_consumed_total", outcome="malformed") - malformed == 1
