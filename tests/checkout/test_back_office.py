"""The back office's order endpoints: refunds (whole or in part, once per Idempotency-Key) and
marking an order fulfilled or shipped. Real HTTP through the gateway to the real services."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from gateway.conftest import Api
from tests.checkout.conftest import Tokens
from tests.checkout.test_checkout import _fill, _level, _payments, _product
from tests.support.harness import Platform

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}


@pytest.fixture(scope="module")
async def shipping(platform: Platform, services: None) -> None:
    for name in ("profile", "shipping"):
        await platform.start(name)


async def _paid_order(http: Api, people: Tokens, price: float = 10.0, quantity: int = 2, **body: Any) -> int:
    product_id = await _product(http, people, stock=10, price=price)
    _, token = people.customer()
    await _fill(http, token, product_id, quantity)
    reply = await http.post("/orders/", body or None, token=token)
    assert reply.status == 201, reply
    order_id: int = reply.body["order_id"]
    return order_id


async def _refund(http: Api, people: Tokens, order_id: int, key: str, **body: Any) -> Any:
    return await http.post(
        f"/admin/orders/{order_id}/refund", body, token=people.admin, headers={"Idempotency-Key": key}
    )


async def test_a_partial_refund_is_made_once_per_key_and_the_rest_refunds_the_order(
    http: Api, people: Tokens, platform: Platform
) -> None:
    order_id = await _paid_order(http, people, price=10.0, quantity=2)
    key = uuid4().hex
    first = await _refund(http, people, order_id, key, amount=5.5, reason="scratched")
    assert first.status == 200, first
    assert (first.body["refunded"], first.body["fully_refunded"]) == (5.5, False)
    assert first.body["order"]["status"] == "paid"
    assert any("refunded 5.50 USD" in e["note"] for e in first.body["order"]["events"])
    again = await _refund(http, people, order_id, key, amount=5.5, reason="scratched")
    assert again.status == 200
    assert again.body["refunded"] == 5.5
    too_much = await _refund(http, people, order_id, uuid4().hex, amount=20)
    assert too_much.status == 409
    assert "left to refund" in too_much.body["error"]

    rest = await _refund(http, people, order_id, uuid4().hex)
    assert rest.status == 200, rest
    assert (rest.body["refunded"], rest.body["fully_refunded"]) == (20.0, True)
    assert rest.body["order"]["status"] == "refunded"
    payment = (await _payments(platform, people, order_id))[0]
    assert payment.refunded.amount_minor == 2000
    retried = await _refund(http, people, order_id, uuid4().hex)
    assert retried.status == 200
    assert retried.body["refunded"] == 20.0


async def test_a_whole_refund_of_a_paid_order_puts_the_goods_back(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=10)
    _, token = people.customer()
    await _fill(http, token, product_id, 3)
    order_id = (await http.post("/orders/", token=token)).body["order_id"]
    reply = await _refund(http, people, order_id, uuid4().hex)
    assert reply.status == 200, reply
    assert reply.body["order"]["status"] == "refunded"
    assert await _level(platform, people, product_id) == (10, 0)


async def test_refunds_are_for_admins_and_checked(http: Api, people: Tokens) -> None:
    order_id = await _paid_order(http, people)
    _, shopper = people.customer()
    denied = await http.post(f"/admin/orders/{order_id}/refund", {}, token=shopper)
    assert denied.status == 403
    for body in ({"amount": 0}, {"amount": -1}, {"amount": 1.234}, {"amount": "5"}):
        bad = await _refund(http, people, order_id, uuid4().hex, **body)
        assert bad.status == 400, (body, bad)
    missing = await _refund(http, people, 10**12, uuid4().hex)
    assert missing.status == 404


async def test_marking_an_order_fulfilled_then_shipped_puts_its_shipment_in_transit(
    http: Api, people: Tokens, shipping: None
) -> None:
    order_id = await _paid_order(http, people, shipping_address=ADDRESS)
    fulfilled = await http.post(
        f"/admin/orders/{order_id}/fulfilment", {"status": "fulfilled"}, token=people.admin
    )
    assert fulfilled.status == 200, fulfilled
    assert fulfilled.body["status"] == "fulfilled"
    assert fulfilled.body["shipment_id"]
    shipped = await http.post(
        f"/admin/orders/{order_id}/fulfilment", {"status": "shipped", "note": "picked up"}, token=people.admin
    )
    assert shipped.status == 200, shipped
    assert shipped.body["status"] == "shipped"
    tracking = await http.get(f"/orders/{order_id}/tracking", token=people.admin)
    assert tracking.status == 200, tracking
    assert tracking.body["status"] == "in_transit"
    assert [e["status"] for e in tracking.body["events"]][-1] == "in_transit"
    # Asking again changes nothing; an order on its way can no longer be only packed.
    again = await http.post(f"/admin/orders/{order_id}/fulfilment", {"status": "shipped"}, token=people.admin)
    assert again.status == 200
    assert again.body["status"] == "shipped"
    assert again.body["events"] == shipped.body["events"]
    listed = await http.get("/admin/shipments/", token=people.admin, params={"page_size": "5"})
    assert listed.status == 200, listed
    mine = [s for s in listed.body["shipments"] if s["order_id"] == order_id]
    assert [s["status"] for s in mine] == ["in_transit"]
    _, shopper = people.customer()
    assert (await http.get("/admin/shipments/", token=shopper)).status == 403
    detail = await http.get(f"/admin/orders/{order_id}", token=people.admin)
    assert detail.status == 200
    assert detail.body["status"] == "shipped"


async def test_fulfilment_is_for_admins_and_follows_the_order_s_rules(http: Api, people: Tokens) -> None:
    order_id = await _paid_order(http, people)
    _, shopper = people.customer()
    denied = await http.post(f"/admin/orders/{order_id}/fulfilment", {"status": "shipped"}, token=shopper)
    assert denied.status == 403
    bad = await http.post(f"/admin/orders/{order_id}/fulfilment", {"status": "delivered"}, token=people.admin)
    assert bad.status == 400
    cancelled = await http.post(f"/orders/{order_id}/cancel", token=people.admin)
    assert cancelled.status == 200, cancelled
    refused = await http.post(
        f"/admin/orders/{order_id}/fulfilment", {"status": "shipped"}, token=people.admin
    )
    assert refused.status == 409, refused
