"""/api/shipping, /api/orders/{id}/tracking and the admin's shipping endpoints, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, User, assert_error, gateway_settings, new_product
from services.kit.server import start
from services.shipping.service import build
from services.shipping.test_shipping import WEBHOOK_SECRET, sign, stamp, start_shipping, webhook_headers
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

US = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Albany",
    "region": "NY",
    "postal_code": "12207",
    "country": "US",
}


@pytest.fixture(autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "cart", "payments", "orders"):
        await platform.start(name)
    await start_shipping(platform)


async def _weighted_product(platform: Platform, tokens: TokenFactory, cents: int, grams: int) -> int:
    catalog = platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    reply = await catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            name=f"Box {uuid4().hex[:8]}",
            price=common_pb2.Money(amount_minor=cents, currency="USD"),
            weight_grams=grams,
        ),
        metadata=bearer(tokens.admin()),
    )
    return int(reply.product.id)


async def _order_with_shipment(
    api: Api, admin: User, user: User, platform: Platform, tokens: TokenFactory
) -> tuple[int, int]:
    """(order id, shipment id): a paid order through the API, shipped as orders' checkout does."""
    product_id = await new_product(api, admin, price=20.0, stock=5)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
    created = await api.post("/api/orders/", token=user.token)
    assert created.status == 201, created
    order_id: int = created.body["order_id"]
    shipping = platform.stub(shipping_pb2_grpc.ShippingServiceStub, "shipping")
    reply = await shipping.CreateShipment(
        shipping_pb2.CreateShipmentRequest(
            order_id=order_id,
            user_id=user.user_id,
            address=common_pb2.Address(**US),
            method="standard",
        ),
        metadata=bearer(tokens.service("orders")),
    )
    return order_id, int(reply.shipment.id)


async def _order_status(api: Api, user: User, order_id: int) -> str:
    orders = await api.get("/api/orders/", token=user.token, params={"page_size": "200"})
    return str(next(o["status"] for o in orders.body["orders"] if o["order_id"] == order_id))


async def _wait_for_order(api: Api, user: User, order_id: int, status: str) -> None:
    """Shipping tells orders at once, but within a few seconds at worst: poll a little."""
    await eventually(lambda: _order_status(api, user, order_id), lambda seen: seen == status, within=10)


# --- quotes and methods -------------------------------------------------------------------------


async def test_quote_is_public_and_priced_from_the_catalog(
    api: Api, admin: User, platform: Platform, tokens: TokenFactory
) -> None:
    weightless = await new_product(api, admin, price=12.5)
    heavy = await _weighted_product(platform, tokens, 1000, 2500)
    reply = await api.post(
        "/api/shipping/quote",
        {
            "address": US,
            "items": [{"product_id": weightless, "quantity": 2}, {"product_id": heavy, "quantity": 1}],
        },
    )
    assert reply.status == 200, reply
    # 2.5 kg bills 3 kg; $35 of goods is under the $50 free-shipping threshold.
    assert reply.body == {
        "options": [
            {
                "method": "standard",
                "carrier": "ups",
                "cost": 8.99,
                "estimated_days_min": 3,
                "estimated_days_max": 5,
            },
            {
                "method": "express",
                "carrier": "dhl",
                "cost": 20.99,
                "estimated_days_min": 1,
                "estimated_days_max": 2,
            },
        ]
    }
    free = await api.post(
        "/api/shipping/quote/", {"address": US, "items": [{"product_id": weightless, "quantity": 4}]}
    )
    assert free.body["options"][0] == {
        "method": "standard",
        "carrier": "ups",
        "cost": 0.0,
        "estimated_days_min": 3,
        "estimated_days_max": 5,
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"items": []}, 400, "address"),
        ({"address": {**US, "country": "USA"}, "items": []}, 400, "country"),
        ({"address": US, "items": [{"product_id": 1, "quantity": 0}]}, 400, "quantity"),
        ({"address": US, "items": [{"product_id": "1", "quantity": 1}]}, 400, "product_id"),
        ({"address": US, "items": [{"product_id": 2**62, "quantity": 1}]}, 409, "product"),
    ],
)
async def test_bad_quotes(api: Api, body: dict[str, Any], status: int, field: str) -> None:
    assert_error(await api.post("/api/shipping/quote", body), status, mentions=field)


async def test_methods(api: Api) -> None:
    reply = await api.get("/api/shipping/methods/")
    assert (reply.status, reply.body) == (
        200,
        {
            "methods": [
                {"code": "standard", "name": "Standard", "carrier": "ups"},
                {"code": "express", "name": "Express", "carrier": "dhl"},
            ]
        },
    )


# --- tracking -----------------------------------------------------------------------------------


async def test_customer_follows_their_order_to_delivered(
    api: Api, admin: User, user: User, other_user: User, platform: Platform, tokens: TokenFactory
) -> None:
    order_id, shipment_id = await _order_with_shipment(api, admin, user, platform, tokens)
    tracking = f"/api/orders/{order_id}/tracking"

    first = await api.get(tracking, token=user.token)
    assert first.status == 200, first
    assert (first.body["order_id"], first.body["shipment_id"], first.body["status"]) == (
        order_id,
        shipment_id,
        "label_created",
    )
    assert first.body["tracking_number"].startswith("SHP")
    assert (first.body["method"], first.body["carrier"]) == ("standard", "ups")
    assert_error(await api.get(tracking, token=other_user.token), 404)
    assert_error(await api.get(tracking), 401)

    steps = [
        ("in_transit", "Memphis, TN", "shipped"),
        ("out_for_delivery", "Albany, NY", "shipped"),
        ("delivered", "Albany, NY", "delivered"),
    ]
    for number, (status, location, order_status) in enumerate(steps, start=2):
        added = await api.post(
            f"/api/admin/shipments/{shipment_id}/events",
            {"status": status, "location": location, "message": f"step {number}"},
            token=admin.token,
        )
        assert added.status == 201, added
        seen = await api.get(tracking, token=user.token)
        assert seen.body["status"] == status
        assert [(e["status"], e["location"]) for e in seen.body["events"]][-1] == (status, location)
        assert len(seen.body["events"]) == number
        await _wait_for_order(api, user, order_id, order_status)
        assert_error(await api.get(tracking, token=other_user.token), 404)

    assert (await api.get(tracking, token=admin.token)).body == seen.body
    backwards = await api.post(
        f"/api/admin/shipments/{shipment_id}/events", {"status": "in_transit"}, token=admin.token
    )
    assert_error(backwards, 409)


async def test_tracking_edge_cases(
    api: Api, admin: User, user: User, platform: Platform, tokens: TokenFactory
) -> None:
    product_id = await new_product(api, admin, price=5.0, stock=5)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
    unshipped = (await api.post("/api/orders/", token=user.token)).body["order_id"]
    assert_error(
        await api.get(f"/api/orders/{unshipped}/tracking", token=user.token), 404, mentions="shipment"
    )

    _, shipment_id = await _order_with_shipment(api, admin, user, platform, tokens)
    path = f"/api/admin/shipments/{shipment_id}/events"
    assert_error(await api.post(path, {"status": "in_transit"}, token=user.token), 403)
    assert_error(await api.post(path, {"status": "teleported"}, token=admin.token), 400, mentions="status")
    assert_error(
        await api.post(path, {"status": "in_transit", "occurred_at": "soon"}, token=admin.token), 400
    )
    assert_error(
        await api.post("/api/admin/shipments/999999999/events", {"status": "in_transit"}, token=admin.token),
        404,
    )
    stamped = await api.post(
        path, {"status": "in_transit", "occurred_at": "2099-01-01T12:00:00Z"}, token=admin.token
    )
    assert stamped.status == 201, stamped
    assert stamped.body["events"][-1]["occurred_at"].startswith("2099-01-01T12:00:00")


# --- carrier webhooks ---------------------------------------------------------------------------


async def _webhook(
    api: Api, carrier: str, body: dict[str, Any], signature: str | None, timestamp: str | None = None
) -> Any:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Shop-Signature"] = signature
    if timestamp is not None:
        headers["X-Shop-Timestamp"] = timestamp
    return await api.call("POST", f"/api/shipping/webhooks/{carrier}", data=raw, headers=headers)


async def test_carrier_webhooks_need_a_good_signature(
    api: Api, admin: User, user: User, platform: Platform, tokens: TokenFactory
) -> None:
    order_id, _ = await _order_with_shipment(api, admin, user, platform, tokens)
    tracking = f"/api/orders/{order_id}/tracking"
    number = (await api.get(tracking, token=user.token)).body["tracking_number"]
    body = {
        "tracking_number": number,
        "status": "in_transit",
        "location": "Louisville, KY",
        "message": "Scanned",
    }
    raw = json.dumps(body).encode()

    now, before = stamp(), stamp(1)
    assert_error(await _webhook(api, "ups", body, "0" * 64, now), 401, mentions="signature")
    assert_error(await _webhook(api, "ups", body, None, now), 401)
    # Signed without the timestamp (the old scheme), or with no timestamp header: refused.
    assert_error(
        await _webhook(
            api, "ups", body, hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest(), now
        ),
        401,
    )
    assert_error(await _webhook(api, "ups", body, sign(raw, now)), 401, mentions="timestamp")
    assert_error(await _webhook(api, "ups", {**body, "status": "delivered"}, sign(raw, now), now), 401)
    assert (await api.get(tracking, token=user.token)).body["status"] == "label_created"
    assert_error(await _webhook(api, "UPS!", body, sign(raw, now), now), 404)
    assert_error(await _webhook(api, "dhl", body, sign(raw, before), before), 404)

    accepted = await _webhook(api, "ups", body, sign(raw, now), now)
    assert (accepted.status, accepted.body) == (200, {"message": "Tracking event recorded"})
    # The same signed request again is a replay: 409, and nothing more is recorded.
    assert_error(await _webhook(api, "ups", body, sign(raw, now), now), 409, mentions="already received")
    old = stamp(10 * 60)
    assert_error(await _webhook(api, "ups", body, sign(raw, old), old), 401, mentions="timestamp")
    seen = (await api.get(tracking, token=user.token)).body
    assert (seen["status"], seen["events"][-1]["location"]) == ("in_transit", "Louisville, KY")
    await _wait_for_order(api, user, order_id, "shipped")


async def test_webhooks_without_a_secret_are_503(platform: Platform) -> None:
    running = await start(
        platform.settings("shipping", grpc_port=free_port(), carrier_webhook_secret=None), build
    )
    try:
        settings = gateway_settings(platform, shipping_addr=f"127.0.0.1:{running.port}")
        async with TestClient(TestServer(create_app(settings))) as client:
            reply = await Api(client).call(
                "POST", "/api/shipping/webhooks/ups", data=b"{}", headers=webhook_headers(b"{}")
            )
    finally:
        await running.stop(grace=0)
    assert_error(reply, 503, mentions="webhooks are not configured")


# --- zones --------------------------------------------------------------------------------------


def _zone_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": f"Zone {uuid4().hex[:6]}",
        "countries": ["QW"],
        "rates": [{"method": "express", "base_cost": 9.5, "per_kg_cost": 1.25, "min_days": 1, "max_days": 3}],
        **fields,
    }


async def test_admin_manages_zones(api: Api, admin: User, customer: User) -> None:
    to = {**US, "country": "QW", "region": "", "postal_code": "777"}

    async def options() -> list[tuple[str, float]]:
        reply = await api.post("/api/shipping/quote", {"address": to, "items": []})
        return [(o["method"], o["cost"]) for o in reply.body["options"]]

    assert await options() == [("standard", 24.99), ("express", 59.99)]  # the rest of the world

    created = await api.post("/api/admin/shipping/zones/", _zone_body(), token=admin.token)
    assert created.status == 201, created
    zone = created.body
    assert zone["countries"] == ["QW"]
    assert zone["rates"] == [
        {
            "method": "express",
            "base_cost": 9.5,
            "per_kg_cost": 1.25,
            "free_over": None,
            "min_days": 1,
            "max_days": 3,
        }
    ]
    assert await options() == [("express", 9.5)]

    listed = await api.get("/api/admin/shipping/zones/", token=admin.token, params={"page_size": "200"})
    assert listed.status == 200
    assert zone in listed.body["zones"]
    assert "United States" in {z["name"] for z in listed.body["zones"]}

    replaced = await api.put(
        f"/api/admin/shipping/zones/{zone['id']}",
        _zone_body(
            name="QW mainland",
            rates=[{"method": "standard", "base_cost": 3, "free_over": 10, "min_days": 2, "max_days": 4}],
        ),
        token=admin.token,
    )
    assert replaced.status == 200, replaced
    assert (replaced.body["id"], replaced.body["name"]) == (zone["id"], "QW mainland")
    assert await options() == [("standard", 3.0)]

    deleted = await api.delete(f"/api/admin/shipping/zones/{zone['id']}", token=admin.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Zone deleted"})
    assert_error(await api.delete(f"/api/admin/shipping/zones/{zone['id']}", token=admin.token), 404)
    assert_error(
        await api.put(f"/api/admin/shipping/zones/{zone['id']}", _zone_body(), token=admin.token), 404
    )
    assert await options() == [("standard", 24.99), ("express", 59.99)]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (_zone_body(name=""), "name"),
        (_zone_body(countries=["Q"]), "countries"),
        (
            _zone_body(rates=[{"method": "express", "base_cost": "9", "min_days": 1, "max_days": 2}]),
            "base_cost",
        ),
        (
            _zone_body(rates=[{"method": "express", "base_cost": 9.999, "min_days": 1, "max_days": 2}]),
            "base_cost",
        ),
        (
            _zone_body(rates=[{"method": "teleport", "base_cost": 9, "min_days": 1, "max_days": 2}]),
            "teleport",
        ),
    ],
)
async def test_bad_zones_are_400(api: Api, admin: User, body: dict[str, Any], mentions: str) -> None:
    assert_error(
        await api.post("/api/admin/shipping/zones/", body, token=admin.token), 400, mentions=mentions
    )


async def test_zones_are_admin_only(api: Api, customer: User) -> None:
    assert_error(await api.get("/api/admin/shipping/zones/", token=customer.token), 403)
    assert_error(await api.post("/api/admin/shipping/zones/", _zone_body(), token=customer.token), 403)
    assert_error(await api.delete("/api/admin/shipping/zones/1", token=customer.token), 403)
    assert_error(await api.get("/api/admin/shipping/zones/"), 401)
