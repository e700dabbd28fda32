"""/api/cart and /api/orders: the documented bodies, one user never sees another's, strict input."""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import pytest

from gateway.conftest import Api, User, assert_error, new_product
from gateway.routes.orders import CARD_REFUSED
from tests.support.cards import tokenize
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "cart", "payments", "orders"):
        await platform.start(name)


async def test_cart_add_view_remove(api: Api, admin: User, user: User) -> None:
    product_id = await new_product(api, admin)
    added = await api.post("/api/cart/", {"product_id": product_id, "quantity": 2}, token=user.token)
    assert added.status == 201
    item_id = added.body["item_id"]
    assert added.body == {"item_id": item_id, "message": "Item added to cart"}

    for path in ("/api/cart/", "/api/cart"):
        cart = await api.get(path, token=user.token)
        assert (cart.status, cart.body) == (200, {str(item_id): {"product_id": product_id, "quantity": 2}})

    removed = await api.delete(f"/api/cart/{item_id}", token=user.token)
    assert (removed.status, removed.body) == (200, {"message": "Item removed from cart"})
    assert (await api.get("/api/cart/", token=user.token)).body == {}
    again = await api.delete(f"/api/cart/{item_id}/", token=user.token)
    assert again.status == 404
    assert set(again.body) == {"error"}


async def test_one_users_cart_is_not_anothers(api: Api, admin: User, user: User, other_user: User) -> None:
    product_id = await new_product(api, admin)
    added = await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
    item_id = added.body["item_id"]
    assert (await api.get("/api/cart/", token=other_user.token)).body == {}
    stolen = await api.delete(f"/api/cart/{item_id}", token=other_user.token)
    assert stolen.status == 404
    assert str(item_id) in (await api.get("/api/cart/", token=user.token)).body


async def test_adding_an_unknown_product_is_4xx(api: Api, customer: User) -> None:
    reply = await api.post("/api/cart/", {"product_id": 2**62, "quantity": 1}, token=customer.token)
    assert_error(reply, 400, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_id": 1}, "quantity"),
        ({"quantity": 1}, "product_id"),
        ({"product_id": 1, "quantity": 1.5}, "quantity"),
        ({"product_id": 1, "quantity": "2"}, "quantity"),
        ({"product_id": 1, "quantity": -1}, "quantity"),
        ({"product_id": 1, "quantity": 0}, "quantity"),
        ({"product_id": 1, "quantity": True}, "quantity"),
        ({"product_id": 1, "quantity": 2**63}, "quantity"),
        ({"product_id": "1", "quantity": 1}, "product_id"),
        ({"product_id": 0, "quantity": 1}, "product_id"),
        ({"product_id": None, "quantity": 1}, "product_id"),
    ],
)
async def test_bad_cart_items_are_400(api: Api, customer: User, body: dict[str, Any], field: str) -> None:
    reply = await api.post("/api/cart/", body, token=customer.token)
    assert_error(reply, 400, mentions=field)


async def test_checkout_without_a_body(api: Api, admin: User, user: User, other_user: User) -> None:
    product_id = await new_product(api, admin, price=100.00, stock=5)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 2}, token=user.token)

    created = await api.post("/api/orders/", token=user.token)
    assert created.status == 201, created
    order_id = created.body["order_id"]
    assert created.body == {"order_id": order_id, "message": "Order created and payment processed"}

    for path in (f"/api/orders/{order_id}", f"/api/orders/{order_id}/"):
        got = await api.get(path, token=user.token)
        assert (got.status, got.body) == (
            200,
            {"order_id": order_id, "items": [{"product_id": product_id, "quantity": 2}], "total": 200.00},
        )
    assert (await api.get(f"/api/products/{product_id}")).body["stock"] == 3
    assert (await api.get("/api/cart/", token=user.token)).body == {}

    # Someone else sees nothing of it and cannot cancel it; an admin sees it.
    theirs = await api.get(f"/api/orders/{order_id}", token=other_user.token)
    assert theirs.status == 404
    assert set(theirs.body) == {"error"}
    cancel_theirs = await api.post(f"/api/orders/{order_id}/cancel", token=other_user.token)
    assert cancel_theirs.status == 404
    assert (await api.get(f"/api/orders/{order_id}", token=admin.token)).status == 200

    listed = await api.get("/api/orders/", token=user.token)
    assert listed.status == 200
    assert listed.body == {
        "orders": [
            {
                "order_id": order_id,
                "items": [{"product_id": product_id, "quantity": 2}],
                "total": 200.0,
                "status": listed.body["orders"][0]["status"],
            }
        ],
        "next_page_token": None,
    }
    assert listed.body["orders"][0]["status"] in ("paid", "fulfilled")
    assert order_id not in [
        o["order_id"] for o in (await api.get("/api/orders", token=other_user.token)).body["orders"]
    ]

    canceled = await api.post(f"/api/orders/{order_id}/cancel", token=user.token)
    assert (canceled.status, canceled.body) == (200, {"message": "Order canceled and refunded"})
    assert (await api.get(f"/api/products/{product_id}")).body["stock"] == 5
    twice = await api.post(f"/api/orders/{order_id}/cancel/", token=user.token)
    assert twice.status == 409
    assert set(twice.body) == {"error"}


async def test_checkout_with_payment_and_idempotency_key(
    api: Api, admin: User, user: User, platform: Platform
) -> None:
    product_id = await new_product(api, admin, price=19.99, stock=5)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 3}, token=user.token)
    key = uuid4().hex
    body = {"payment": {"token": await tokenize(platform, "4242424242424242")}}
    first = await api.post("/api/orders", body, token=user.token, headers={"Idempotency-Key": key})
    assert first.status == 201, first
    second = await api.post("/api/orders/", body, token=user.token, headers={"Idempotency-Key": key})
    assert second.status in (200, 201)
    assert second.body["order_id"] == first.body["order_id"]
    got = await api.get(f"/api/orders/{first.body['order_id']}", token=user.token)
    assert got.body["total"] == 59.97


async def test_checkout_with_a_payment_token(api: Api, admin: User, user: User) -> None:
    product_id = await new_product(api, admin, price=3, stock=5)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
    reply = await api.post("/api/orders/", {"payment": {"token": "tok_test_visa"}}, token=user.token)
    assert reply.status == 201, reply


async def test_an_empty_cart_cannot_be_ordered(api: Api, user: User) -> None:
    reply = await api.post("/api/orders/", token=user.token)
    assert_error(reply, *range(400, 500))


@pytest.mark.parametrize(
    "body",
    [
        {"payment": "card"},
        {"payment": {}},
        {"payment": {"token": ""}},
        {"payment": {"token": "t" * 201}},
        {"payment": {"token": 5}},
        {"payment": {"token": None}},
    ],
)
async def test_bad_checkout_bodies_are_400(api: Api, customer: User, body: dict[str, Any]) -> None:
    reply = await api.post("/api/orders/", body, token=customer.token)
    assert_error(reply, 400)


CARD = {"number": "4000056655665556", "exp_month": 12, "exp_year": 2099, "cvc": "8317"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"payment": {"card": CARD}}, f"payment: {CARD_REFUSED}"),
        ({"payment": {"token": "tok_test_visa", "card": CARD}}, f"payment: {CARD_REFUSED}"),
        ({"payment": {"card": {**CARD, "number": 4000056655665556}}}, f"payment: {CARD_REFUSED}"),
        ({"payment": {"card": None}}, f"payment: {CARD_REFUSED}"),
        ({"card": CARD}, CARD_REFUSED),
    ],
)
async def test_card_data_is_refused_and_goes_nowhere(
    api: Api, admin: User, user: User, body: dict[str, Any], error: str, caplog: pytest.LogCaptureFixture
) -> None:
    product_id = await new_product(api, admin, price=5, stock=2)
    await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=user.token)
    with caplog.at_level(logging.DEBUG):
        reply = await api.post("/api/orders/", body, token=user.token)
    assert (reply.status, reply.body) == (400, {"error": error})
    assert "tokenize" in reply.body["error"]
    # Nothing was ordered or charged, and the number was not logged on the way.
    assert (await api.get("/api/orders/", token=user.token)).body["orders"] == []
    assert (await api.get(f"/api/products/{product_id}")).body["stock"] == 2
    assert "4000056655665556" not in caplog.text
    assert "4000056655665556" not in str([r.__dict__ for r in caplog.records])


async def test_an_oversized_idempotency_key_is_400(api: Api, customer: User) -> None:
    reply = await api.post("/api/orders/", token=customer.token, headers={"Idempotency-Key": "k" * 201})
    assert reply.status == 400
    assert "Idempotency-Key" in reply.body["error"]


async def test_unknown_orders_are_404(api: Api, customer: User) -> None:
    for reply in (
        await api.get(f"/api/orders/{2**62}", token=customer.token),
        await api.post(f"/api/orders/{2**62}/cancel", token=customer.token),
        await api.get("/api/orders/abc", token=customer.token),
    ):
        assert reply.status == 404
        assert set(reply.body) == {"error"}
