from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.server import start
from services.shipping import webhooks
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually, once_available
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

WEBHOOK_SECRET = "carrier-webhook-test-secret"
# Fast background retries, and webhooks switched on.
SHIPPING_SETTINGS: dict[str, Any] = {
    "carrier_webhook_secret": WEBHOOK_SECRET,
    "order_sync_interval_seconds": 0.2,
    "order_sync_retry_seconds": 0.1,
}
SERVICES = ("auth", "catalog", "inventory", "cart", "payments", "orders")
S = shipping_pb2
Meta = tuple[tuple[str, str]]


async def start_shipping(platform: Platform) -> None:
    """Shipping with the test settings, restarted if something else started it without them."""
    running = platform.running.get("shipping")
    if running is not None:
        secret = getattr(running.runtime.settings, "carrier_webhook_secret", None)
        if secret is not None and secret.get_secret_value() == WEBHOOK_SECRET:
            return
        await platform.stop("shipping")
    await platform.start("shipping", **SHIPPING_SETTINGS)


def stamp(seconds_ago: int = 0) -> str:
    """A webhook timestamp (Unix seconds); distinct ones make distinct signatures of one body."""
    return str(int(time.time()) - seconds_ago)


def sign(body: bytes, timestamp: str, secret: str = WEBHOOK_SECRET) -> str:
    return webhooks.signature(secret, timestamp, body)


def webhook_headers(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """The headers of a webhook signed as a carrier signs it."""
    when = stamp() if timestamp is None else timestamp
    return {"X-Shop-Timestamp": when, "X-Shop-Signature": sign(body, when)}


def us_address(**fields: str) -> common_pb2.Address:
    values = {"name": "Ada", "line1": "1 Main St", "city": "Albany", "region": "NY", "postal_code": "12207"}
    return common_pb2.Address(**{**values, **fields, "country": fields.get("country", "US")})


@dataclass
class Shop:
    platform: Platform
    tokens: TokenFactory
    shipping: shipping_pb2_grpc.ShippingServiceStub
    orders: orders_pb2_grpc.OrdersServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    cart: cart_pb2_grpc.CartServiceStub

    @property
    def admin(self) -> Meta:
        return bearer(self.tokens.admin())

    @property
    def service(self) -> Meta:
        return bearer(self.tokens.service("orders"))

    def customer(self, user_id: int | None = None) -> tuple[int, Meta]:
        uid = user_id or random.randint(10**6, 10**12)
        return uid, bearer(self.tokens.customer(uid))

    async def product(self, cents: int, grams: int, stock: int = 10) -> int:
        reply = await self.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                name=f"Parcel {uuid4().hex[:8]}",
                price=common_pb2.Money(amount_minor=cents, currency="USD"),
                weight_grams=grams,
            ),
            metadata=self.admin,
        )
        await self.inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=reply.product.id, on_hand=stock), metadata=self.admin
        )
        return int(reply.product.id)

    async def paid_order(self, who: Meta) -> orders_pb2.Order:
        """A real order through checkout, as services/orders/test_orders.py makes them."""
        product = await self.product(1500, 800)
        await self.cart.AddItem(cart_pb2.AddItemRequest(product_id=product, quantity=2), metadata=who)
        reply = await self.orders.CreateOrder(
            orders_pb2.CreateOrderRequest(
                idempotency_key=uuid4().hex, shipping_address=us_address(), shipping_method="standard"
            ),
            metadata=who,
        )
        order: orders_pb2.Order = reply.order
        assert order.status == orders_pb2.ORDER_STATUS_PAID
        return order

    async def ship(self, order: orders_pb2.Order, method: str = "standard") -> S.Shipment:
        reply = await self.shipping.CreateShipment(
            S.CreateShipmentRequest(
                order_id=order.id, user_id=order.user_id, address=us_address(), method=method
            ),
            metadata=self.service,
        )
        shipment: S.Shipment = reply.shipment
        return shipment

    async def event(self, shipment: S.Shipment, status: int, location: str = "") -> S.Shipment:
        reply = await self.shipping.AddTrackingEvent(
            S.AddTrackingEventRequest(
                shipment_id=shipment.id,
                event=S.TrackingEvent(status=status, location=location),  # type: ignore[arg-type]
            ),
            metadata=self.admin,
        )
        updated: S.Shipment = reply.shipment
        return updated

    async def order_status(self, order_id: int) -> int:
        reply = await self.orders.GetOrder(orders_pb2.GetOrderRequest(id=order_id), metadata=self.admin)
        return int(reply.order.status)

    async def wait_for_order(self, order_id: int, status: int) -> None:
        """Until the order has the status (orders may just be coming back up)."""
        await eventually(
            lambda: once_available(lambda: self.order_status(order_id)), lambda got: got == status
        )


@pytest.fixture
async def shop(platform: Platform, tokens: TokenFactory) -> Shop:
    for name in SERVICES:
        await platform.start(name)
    await start_shipping(platform)
    return Shop(
        platform,
        tokens,
        platform.stub(shipping_pb2_grpc.ShippingServiceStub, "shipping"),
        platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders"),
        platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
        platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory"),
        platform.stub(cart_pb2_grpc.CartServiceStub, "cart"),
    )


async def _error(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


def _costs(reply: S.QuoteShippingResponse) -> list[tuple[str, str, int, str]]:
    return [(o.method, o.carrier, o.cost.amount_minor, o.cost.currency) for o in reply.options]


def _usd(cents: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=cents, currency="USD")


# --- quotes and the seeded rate table -----------------------------------------------------------


async def test_quote_reads_weights_and_prices_from_the_catalog(shop: Shop) -> None:
    product = await shop.product(1250, 1500)
    lines = [S.QuoteLine(product_id=product, quantity=2)]
    reply = await shop.shipping.QuoteShipping(S.QuoteShippingRequest(address=us_address(), lines=lines))
    # 3 kg, $25 of goods: the default US table's base + per started kilogram.
    assert _costs(reply) == [
        ("standard", "ups", 599 + 3 * 100, "USD"),
        ("express", "dhl", 1499 + 3 * 200, "USD"),
    ]
    assert [(o.estimated_days_min, o.estimated_days_max) for o in reply.options] == [(3, 5), (1, 2)]

    lines = [S.QuoteLine(product_id=product, quantity=4)]
    reply = await shop.shipping.QuoteShipping(S.QuoteShippingRequest(address=us_address(), lines=lines))
    assert _costs(reply)[0] == ("standard", "ups", 0, "USD")  # $50 reaches the free-shipping threshold


async def test_quote_uses_given_weights_and_prices_and_the_seeded_zones(shop: Shop) -> None:
    line = S.QuoteLine(product_id=10**15, quantity=1, weight_grams=2500, unit_price=_usd(1000))
    alaska = us_address(region="AK", postal_code="99501")
    berlin = us_address(country="DE", region="", postal_code="10115")
    tokyo = us_address(country="JP", region="", postal_code="100-0001")
    cases = [
        (alaska, [("standard", 1299 + 3 * 200), ("express", 2999 + 3 * 400)]),
        (berlin, [("standard", 1499 + 3 * 300), ("express", 3499 + 3 * 500)]),
        (tokyo, [("standard", 2499 + 3 * 500), ("express", 5999 + 3 * 1000)]),
    ]
    for address, expected in cases:
        reply = await shop.shipping.QuoteShipping(S.QuoteShippingRequest(address=address, lines=[line]))
        assert [(o.method, o.cost.amount_minor) for o in reply.options] == expected, address.country


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (S.QuoteShippingRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (S.QuoteShippingRequest(address=common_pb2.Address(country="USA")), grpc.StatusCode.INVALID_ARGUMENT),
        (
            S.QuoteShippingRequest(address=us_address(), lines=[S.QuoteLine(product_id=1, quantity=0)]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            S.QuoteShippingRequest(
                address=us_address(),
                lines=[S.QuoteLine(product_id=1, quantity=1, weight_grams=5, unit_price=_usd(-1))],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            S.QuoteShippingRequest(
                address=us_address(),
                lines=[
                    S.QuoteLine(product_id=1, quantity=1, weight_grams=5, unit_price=_usd(1)),
                    S.QuoteLine(
                        product_id=2,
                        quantity=1,
                        weight_grams=5,
                        unit_price=common_pb2.Money(amount_minor=1, currency="EUR"),
                    ),
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            S.QuoteShippingRequest(address=us_address(), lines=[S.QuoteLine(product_id=10**15, quantity=1)]),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ],
)
async def test_bad_quotes_are_refused(
    shop: Shop, request_: S.QuoteShippingRequest, code: grpc.StatusCode
) -> None:
    assert (await _error(shop.shipping.QuoteShipping(request_)))[0] == code


async def test_methods_are_public(shop: Shop) -> None:
    reply = await shop.shipping.ListShippingMethods(S.ListShippingMethodsRequest())
    assert [(m.code, m.carrier) for m in reply.methods] == [("standard", "ups"), ("express", "dhl")]
    first = await shop.shipping.ListShippingMethods(S.ListShippingMethodsRequest(page_size=1))
    rest = await shop.shipping.ListShippingMethods(
        S.ListShippingMethodsRequest(page_size=1, page_token=first.next_page_token)
    )
    assert [m.code for m in [*first.methods, *rest.methods]] == ["standard", "express"]
    assert rest.next_page_token == ""


# --- zones --------------------------------------------------------------------------------------


def _zone(country: str, **fields: Any) -> S.Zone:
    rates = fields.pop(
        "rates",
        [S.Rate(method="standard", base_cost=_usd(700), per_kg_cost=_usd(50), min_days=2, max_days=4)],
    )
    return S.Zone(name=f"Zone {uuid4().hex[:6]}", countries=[country], rates=rates, **fields)


async def test_admins_manage_zones_and_quotes_follow(shop: Shop) -> None:
    seeded = await shop.shipping.ListZones(S.ListZonesRequest(), metadata=shop.admin)
    assert {"United States", "Alaska and Hawaii", "European Union", "Rest of the world"} <= {
        z.name for z in seeded.zones
    }
    to = us_address(country="QX", region="North", postal_code="AB 123")
    line = S.QuoteLine(product_id=1, quantity=1, weight_grams=1200, unit_price=_usd(100))

    async def quote() -> list[tuple[str, int]]:
        reply = await shop.shipping.QuoteShipping(S.QuoteShippingRequest(address=to, lines=[line]))
        return [(o.method, o.cost.amount_minor) for o in reply.options]

    assert await quote() == [("standard", 2499 + 2 * 500), ("express", 5999 + 2 * 1000)]  # rest of the world

    country = await shop.shipping.UpsertZone(S.UpsertZoneRequest(zone=_zone("qx")), metadata=shop.admin)
    assert country.created
    assert list(country.zone.countries) == ["QX"]
    assert await quote() == [("standard", 700 + 2 * 50)]

    express = S.Rate(method="express", base_cost=_usd(300), free_over=_usd(100), min_days=1, max_days=1)
    postcode = await shop.shipping.UpsertZone(
        S.UpsertZoneRequest(zone=_zone("QX", postcode_prefixes=["ab1"], rates=[express])), metadata=shop.admin
    )
    assert list(postcode.zone.postcode_prefixes) == ["AB1"]
    assert await quote() == [("express", 0)]  # the postcode zone wins, and $1 reaches its free_over

    replaced = S.Zone()
    replaced.CopyFrom(postcode.zone)
    replaced.postcode_prefixes[:] = ["ZZ9"]
    reply = await shop.shipping.UpsertZone(S.UpsertZoneRequest(zone=replaced), metadata=shop.admin)
    assert not reply.created
    assert reply.zone.id == postcode.zone.id
    assert await quote() == [("standard", 700 + 2 * 50)]

    empty = await shop.shipping.UpsertZone(
        S.UpsertZoneRequest(zone=_zone("QX", regions=["north"], rates=[])), metadata=shop.admin
    )
    assert await quote() == []  # the most specific zone ships nothing there

    for zone_id in (empty.zone.id, postcode.zone.id, country.zone.id):
        await shop.shipping.DeleteZone(S.DeleteZoneRequest(id=zone_id), metadata=shop.admin)
    assert await quote() == [("standard", 2499 + 2 * 500), ("express", 5999 + 2 * 1000)]
    code, _ = await _error(
        shop.shipping.DeleteZone(S.DeleteZoneRequest(id=country.zone.id), metadata=shop.admin)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    missing = _zone("QX")
    missing.id = country.zone.id
    code, _ = await _error(shop.shipping.UpsertZone(S.UpsertZoneRequest(zone=missing), metadata=shop.admin))
    assert code == grpc.StatusCode.NOT_FOUND


def _rates(*rates: S.Rate) -> S.Zone:
    return S.Zone(name="x", countries=["QX"], rates=rates)


EUR5 = common_pb2.Money(amount_minor=5, currency="EUR")


@pytest.mark.parametrize(
    "zone",
    [
        S.Zone(name="", countries=["QX"]),
        S.Zone(name="x", countries=["Q"]),
        S.Zone(name="x", regions=["north"]),
        _rates(S.Rate(method="teleport", base_cost=_usd(1))),
        _rates(S.Rate(method="standard")),
        _rates(S.Rate(method="standard", base_cost=_usd(1), min_days=3, max_days=2)),
        _rates(S.Rate(method="standard", base_cost=_usd(1), free_over=EUR5)),
        _rates(S.Rate(method="standard", base_cost=_usd(1)), S.Rate(method="standard", base_cost=_usd(2))),
    ],
)
async def test_invalid_zones_are_refused(shop: Shop, zone: S.Zone) -> None:
    code, _ = await _error(shop.shipping.UpsertZone(S.UpsertZoneRequest(zone=zone), metadata=shop.admin))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_only_admins_touch_zones(shop: Shop) -> None:
    _, who = shop.customer()
    for call in (
        shop.shipping.ListZones(S.ListZonesRequest(), metadata=who),
        shop.shipping.UpsertZone(S.UpsertZoneRequest(zone=_zone("QX")), metadata=who),
        shop.shipping.DeleteZone(S.DeleteZoneRequest(id=1), metadata=who),
    ):
        assert (await _error(call))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert (await _error(shop.shipping.ListZones(S.ListZonesRequest())))[0] == grpc.StatusCode.UNAUTHENTICATED


# --- shipments ----------------------------------------------------------------------------------


async def test_create_shipment_is_internal_and_idempotent_per_order(shop: Shop) -> None:
    uid, who = shop.customer()
    order_id = random.randint(10**9, 10**12)
    request = S.CreateShipmentRequest(order_id=order_id, user_id=uid, address=us_address(), method="express")
    assert (await _error(shop.shipping.CreateShipment(request, metadata=who)))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
    assert (await _error(shop.shipping.CreateShipment(request, metadata=shop.admin)))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )

    first = (await shop.shipping.CreateShipment(request, metadata=shop.service)).shipment
    assert re.fullmatch(r"SHP[A-Z2-7]{16}", first.tracking_number)
    assert (first.order_id, first.user_id, first.method, first.carrier) == (order_id, uid, "express", "dhl")
    assert first.status == S.SHIPMENT_STATUS_LABEL_CREATED
    assert [e.status for e in first.events] == [S.SHIPMENT_STATUS_LABEL_CREATED]
    assert first.address.postal_code == "12207"

    again = S.CreateShipmentRequest()
    again.CopyFrom(request)
    again.method = "standard"
    second = (await shop.shipping.CreateShipment(again, metadata=shop.service)).shipment
    assert second == first

    other = S.CreateShipmentRequest(order_id=order_id + 1, user_id=uid, address=us_address())
    second_order = (await shop.shipping.CreateShipment(other, metadata=shop.service)).shipment
    assert second_order.tracking_number != first.tracking_number
    assert (second_order.method, second_order.carrier) == ("standard", "ups")  # the default method


@pytest.mark.parametrize(
    "request_",
    [
        S.CreateShipmentRequest(user_id=1, address=us_address(), method="standard"),
        S.CreateShipmentRequest(order_id=1, address=us_address(), method="standard"),
        S.CreateShipmentRequest(order_id=1, user_id=1, method="standard"),
        S.CreateShipmentRequest(order_id=1, user_id=1, address=us_address(), method="pigeon"),
        S.CreateShipmentRequest(order_id=1, user_id=1, address=us_address(country=""), method="standard"),
    ],
)
async def test_invalid_shipments_are_refused(shop: Shop, request_: S.CreateShipmentRequest) -> None:
    code, _ = await _error(shop.shipping.CreateShipment(request_, metadata=shop.service))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_customers_see_only_their_own_shipments(shop: Shop) -> None:
    uid, owner = shop.customer()
    _, stranger = shop.customer()
    order_id = random.randint(10**9, 10**12)
    shipment = (
        await shop.shipping.CreateShipment(
            S.CreateShipmentRequest(order_id=order_id, user_id=uid, address=us_address(), method="standard"),
            metadata=shop.service,
        )
    ).shipment
    get = S.GetShipmentRequest(id=shipment.id)
    assert (await shop.shipping.GetShipment(get, metadata=owner)).shipment == shipment
    assert (await shop.shipping.GetShipment(get, metadata=shop.admin)).shipment == shipment
    assert (await _error(shop.shipping.GetShipment(get, metadata=stranger)))[0] == grpc.StatusCode.NOT_FOUND
    assert (await _error(shop.shipping.GetShipment(get)))[0] == grpc.StatusCode.UNAUTHENTICATED
    for bad in ("nope", "0", "99999999999999"):
        code, _ = await _error(shop.shipping.GetShipment(S.GetShipmentRequest(id=bad), metadata=shop.admin))
        assert code == grpc.StatusCode.NOT_FOUND

    by_order = S.ListShipmentsRequest(order_id=order_id)
    assert [s.id for s in (await shop.shipping.ListShipments(by_order, metadata=owner)).shipments] == [
        shipment.id
    ]
    assert list((await shop.shipping.ListShipments(by_order, metadata=stranger)).shipments) == []
    assert [s.id for s in (await shop.shipping.ListShipments(by_order, metadata=shop.admin)).shipments] == [
        shipment.id
    ]
    # A customer naming someone else still gets their own.
    theirs = await shop.shipping.ListShipments(S.ListShipmentsRequest(user_id=uid), metadata=stranger)
    assert list(theirs.shipments) == []


async def test_a_shipment_drives_its_order_to_delivered(shop: Shop) -> None:
    _, who = shop.customer()
    order = await shop.paid_order(who)
    shipment = await shop.ship(order)
    assert await shop.order_status(order.id) == orders_pb2.ORDER_STATUS_PAID

    shipment = await shop.event(shipment, S.SHIPMENT_STATUS_IN_TRANSIT, "Memphis, TN")
    assert shipment.status == S.SHIPMENT_STATUS_IN_TRANSIT
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_SHIPPED)

    await shop.event(shipment, S.SHIPMENT_STATUS_EXCEPTION, "Albany, NY")
    await shop.event(shipment, S.SHIPMENT_STATUS_IN_TRANSIT, "Albany, NY")  # resumes
    await shop.event(shipment, S.SHIPMENT_STATUS_OUT_FOR_DELIVERY, "Albany, NY")
    delivered = await shop.event(shipment, S.SHIPMENT_STATUS_DELIVERED, "Albany, NY")
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_DELIVERED)

    assert delivered.status == S.SHIPMENT_STATUS_DELIVERED
    assert [(e.status, e.location) for e in delivered.events] == [
        (S.SHIPMENT_STATUS_LABEL_CREATED, ""),
        (S.SHIPMENT_STATUS_IN_TRANSIT, "Memphis, TN"),
        (S.SHIPMENT_STATUS_EXCEPTION, "Albany, NY"),
        (S.SHIPMENT_STATUS_IN_TRANSIT, "Albany, NY"),
        (S.SHIPMENT_STATUS_OUT_FOR_DELIVERY, "Albany, NY"),
        (S.SHIPMENT_STATUS_DELIVERED, "Albany, NY"),
    ]
    final = (await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=who)).order
    assert [e.to_status for e in final.events][-2:] == [
        orders_pb2.ORDER_STATUS_SHIPPED,
        orders_pb2.ORDER_STATUS_DELIVERED,
    ]
    for status in (S.SHIPMENT_STATUS_IN_TRANSIT, S.SHIPMENT_STATUS_EXCEPTION):
        code, _ = await _error(shop.event(shipment, status))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = await _error(
        shop.shipping.AddTrackingEvent(
            S.AddTrackingEventRequest(
                shipment_id=shipment.id, event=S.TrackingEvent(status=S.SHIPMENT_STATUS_IN_TRANSIT)
            ),
            metadata=who,
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_delivered_straight_from_paid_passes_through_shipped(shop: Shop) -> None:
    _, who = shop.customer()
    order = await shop.paid_order(who)
    shipment = await shop.ship(order, "express")
    await shop.event(shipment, S.SHIPMENT_STATUS_DELIVERED)
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_DELIVERED)
    final = (await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=who)).order
    assert [e.to_status for e in final.events][-3:] == [
        orders_pb2.ORDER_STATUS_PAID,
        orders_pb2.ORDER_STATUS_SHIPPED,
        orders_pb2.ORDER_STATUS_DELIVERED,
    ]


async def test_order_updates_wait_for_orders_to_come_back(shop: Shop) -> None:
    _, who = shop.customer()
    order = await shop.paid_order(who)
    shipment = await shop.ship(order)
    await shop.platform.stop("orders")
    try:
        delivered = await shop.event(shipment, S.SHIPMENT_STATUS_DELIVERED, "Porch")
        assert delivered.status == S.SHIPMENT_STATUS_DELIVERED
        await asyncio.sleep(0.5)  # a few failed background attempts
    finally:
        await shop.platform.start("orders")
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_DELIVERED)


async def test_tracking_events_by_tracking_number_and_validation(shop: Shop) -> None:
    _, who = shop.customer()
    order = await shop.paid_order(who)
    shipment = await shop.ship(order)
    stamp = Timestamp(seconds=1_800_000_000)
    reply = await shop.shipping.AddTrackingEvent(
        S.AddTrackingEventRequest(
            tracking_number=shipment.tracking_number.lower(),
            event=S.TrackingEvent(status=S.SHIPMENT_STATUS_IN_TRANSIT, message="Picked up", event_time=stamp),
        ),
        metadata=bearer(shop.tokens.service("carrier-bridge")),
    )
    assert (reply.shipment.events[-1].message, reply.shipment.events[-1].event_time) == ("Picked up", stamp)
    for request in (
        S.AddTrackingEventRequest(event=S.TrackingEvent(status=S.SHIPMENT_STATUS_IN_TRANSIT)),
        S.AddTrackingEventRequest(shipment_id=shipment.id),
        S.AddTrackingEventRequest(shipment_id=shipment.id, event=S.TrackingEvent()),
        S.AddTrackingEventRequest(
            shipment_id=shipment.id,
            event=S.TrackingEvent(status=S.SHIPMENT_STATUS_IN_TRANSIT, message="x" * 501),
        ),
    ):
        code, _ = await _error(shop.shipping.AddTrackingEvent(request, metadata=shop.admin))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = await _error(
        shop.shipping.AddTrackingEvent(
            S.AddTrackingEventRequest(
                tracking_number="SHPNOSUCHTHING", event=S.TrackingEvent(status=S.SHIPMENT_STATUS_IN_TRANSIT)
            ),
            metadata=shop.admin,
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


# --- carrier webhooks ---------------------------------------------------------------------------


def _soon(minutes: int) -> str:
    """A carrier's RFC 3339 event time, after the label was created."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(timespec="seconds")


def _webhook(
    carrier: str,
    body: dict[str, Any],
    signature: str | None = None,
    *,
    seconds_ago: int = 0,
    when: str | None = None,
) -> S.HandleCarrierWebhookRequest:
    payload = json.dumps(body).encode()
    when = stamp(seconds_ago) if when is None else when
    return S.HandleCarrierWebhookRequest(
        carrier=carrier,
        payload=payload,
        signature=sign(payload, when) if signature is None else signature,
        timestamp=when,
    )


async def test_signed_carrier_webhooks_advance_the_timeline(shop: Shop) -> None:
    _, who = shop.customer()
    order = await shop.paid_order(who)
    shipment = await shop.ship(order)
    body = {
        "tracking_number": shipment.tracking_number,
        "status": "in_transit",
        "location": "Louisville, KY",
        "message": "Arrived at hub",
        "occurred_at": _soon(1).replace("+00:00", "Z"),
    }
    first = _webhook("ups", body)
    reply = await shop.shipping.HandleCarrierWebhook(first)
    assert reply.shipment.status == S.SHIPMENT_STATUS_IN_TRANSIT
    assert reply.shipment.events[-1].location == "Louisville, KY"
    # A webhook the carrier sends again (signed anew, at another second) changes nothing.
    resent = _webhook("UPS", body, when=str(int(first.timestamp) - 1))
    again = await shop.shipping.HandleCarrierWebhook(resent)
    assert len(again.shipment.events) == len(reply.shipment.events)
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_SHIPPED)

    delivered = {**body, "status": "DELIVERED", "occurred_at": _soon(2)}
    assert (await _error(shop.shipping.HandleCarrierWebhook(_webhook("ups", delivered, "00" * 32))))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert (await _error(shop.shipping.HandleCarrierWebhook(_webhook("ups", delivered, ""))))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    forged = _webhook("ups", delivered)
    forged.payload = forged.payload.replace(b"DELIVERED", b"EXCEPTION")
    assert (await _error(shop.shipping.HandleCarrierWebhook(forged)))[0] == grpc.StatusCode.UNAUTHENTICATED
    # Another carrier's webhook does not reach this shipment.
    assert (await _error(shop.shipping.HandleCarrierWebhook(_webhook("dhl", delivered, seconds_ago=2))))[
        0
    ] == (grpc.StatusCode.NOT_FOUND)
    # A signature of non-ASCII text is just wrong, not a crash.
    assert (await _error(shop.shipping.HandleCarrierWebhook(_webhook("ups", delivered, "é" * 64))))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    for bad in (
        {**delivered, "status": "lost"},
        {**delivered, "occurred_at": "yesterday"},
        {"status": "delivered"},
        # Offsets that push the time out of the years 1-9999 once in UTC.
        {**delivered, "occurred_at": "9999-12-31T23:00:00-05:00"},
        {**delivered, "occurred_at": "0001-01-01T00:30:00+01:00"},
    ):
        assert (await _error(shop.shipping.HandleCarrierWebhook(_webhook("ups", bad))))[0] == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    for payload in (b"{nope", deep):
        when = stamp()
        garbage = S.HandleCarrierWebhookRequest(
            carrier="ups", payload=payload, signature=sign(payload, when), timestamp=when
        )
        assert (await _error(shop.shipping.HandleCarrierWebhook(garbage)))[
            0
        ] == grpc.StatusCode.INVALID_ARGUMENT

    done = await shop.shipping.HandleCarrierWebhook(_webhook("ups", delivered))
    assert done.shipment.status == S.SHIPMENT_STATUS_DELIVERED
    await shop.wait_for_order(order.id, orders_pb2.ORDER_STATUS_DELIVERED)


async def test_replayed_or_stale_webhooks_are_refused(shop: Shop) -> None:
    _, who = shop.customer()
    shipment = await shop.ship(await shop.paid_order(who))
    body = {"tracking_number": shipment.tracking_number, "status": "in_transit", "occurred_at": _soon(1)}
    first = _webhook("ups", body)
    assert (await shop.shipping.HandleCarrierWebhook(first)).shipment.status == S.SHIPMENT_STATUS_IN_TRANSIT
    # The very same signed request again (captured and replayed): refused, however soon.
    code, details = await _error(shop.shipping.HandleCarrierWebhook(first))
    assert (code, details) == (grpc.StatusCode.ALREADY_EXISTS, "webhook already received")

    later = {**body, "status": "delivered", "occurred_at": _soon(2)}
    window = webhooks.WINDOW_SECONDS
    for stale in (
        _webhook("ups", later, seconds_ago=window + 60),
        _webhook("ups", later, seconds_ago=-window - 60),
    ):
        code, details = await _error(shop.shipping.HandleCarrierWebhook(stale))
        assert (code, details) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "webhook timestamp missing or more than 5 minutes off",
        )
    # The timestamp is part of what is signed: a fresh one on an old signature does not pass.
    old = _webhook("ups", later, seconds_ago=window + 60)
    old.timestamp = stamp()
    assert (await _error(shop.shipping.HandleCarrierWebhook(old)))[0] == grpc.StatusCode.UNAUTHENTICATED
    for missing in ("", "soon", "1" * 40, "١٢"):
        odd = _webhook("ups", later)
        odd.timestamp = missing
        assert (await _error(shop.shipping.HandleCarrierWebhook(odd)))[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (await shop.shipping.HandleCarrierWebhook(_webhook("ups", later))).shipment.status == (
        S.SHIPMENT_STATUS_DELIVERED
    )


async def test_webhooks_are_refused_without_a_secret(shop: Shop) -> None:
    from services.shipping.service import build

    settings = shop.platform.settings("shipping", grpc_port=free_port(), carrier_webhook_secret=None)
    running = await start(settings, build)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = shipping_pb2_grpc.ShippingServiceStub(channel)
            code, details = await _error(stub.HandleCarrierWebhook(_webhook("ups", {"status": "delivered"})))
    finally:
        await running.stop(grace=0)
    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, "carrier webhooks are not configured")


async def test_listing_pages_through_a_customers_shipments_newest_first(shop: Shop) -> None:
    uid, who = shop.customer()
    created = []
    for _ in range(5):
        request = S.CreateShipmentRequest(
            order_id=random.randint(10**9, 10**12), user_id=uid, address=us_address(), method="standard"
        )
        created.append((await shop.shipping.CreateShipment(request, metadata=shop.service)).shipment.id)
    seen: list[str] = []
    token = ""
    while True:
        page = await shop.shipping.ListShipments(
            S.ListShipmentsRequest(page_size=2, page_token=token), metadata=who
        )
        assert len(page.shipments) <= 2
        seen += [s.id for s in page.shipments]
        token = page.next_page_token
        if not token:
            break
    assert seen == created[::-1]
    admin_view = await shop.shipping.ListShipments(S.ListShipmentsRequest(user_id=uid), metadata=shop.admin)
    assert [s.id for s in admin_view.shipments] == created[::-1]
    code, _ = await _error(shop.shipping.ListShipments(S.ListShipmentsRequest(page_token="%%"), metadata=who))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
