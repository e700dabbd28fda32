"""One cart is checked out once: N checkouts of the same cart fired together, with no idempotency
key, with one shared key or with a key each, make one order, one charge and one stock movement.
Real HTTP through the gateway to the real services, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from gateway.conftest import Api, Reply
from tests.checkout.conftest import Tokens
from tests.checkout.test_checkout import _captured, _fill, _level, _orders_of, _payments, _product
from tests.support.harness import Platform

RACERS = 6


async def _race(http: Api, token: str, keys: list[str | None]) -> list[Reply]:
    go = asyncio.Event()

    async def checkout(key: str | None) -> Reply:
        await go.wait()
        headers = {"Idempotency-Key": key} if key is not None else None
        return await http.post("/orders/", token=token, headers=headers)

    racing = [asyncio.create_task(checkout(key)) for key in keys]
    await asyncio.sleep(0)
    go.set()
    return await asyncio.gather(*racing)


@pytest.mark.parametrize("key_use", ["none", "shared", "each"])
async def test_racing_checkouts_of_one_cart_make_one_order_and_one_charge(
    http: Api, people: Tokens, platform: Platform, key_use: str
) -> None:
    product_id = await _product(http, people, stock=20)
    _, token = people.customer()
    await _fill(http, token, product_id, 3)
    shared = uuid4().hex
    choices: dict[str, list[str | None]] = {
        "none": [None] * RACERS,
        "shared": [shared] * RACERS,
        "each": [uuid4().hex for _ in range(RACERS)],
    }
    chosen = choices[key_use]

    replies = await _race(http, token, chosen)

    created = [r for r in replies if r.status == 201]
    refused = [r for r in replies if r.status != 201]
    order_ids = {r.body["order_id"] for r in created}
    assert len(order_ids) == 1, replies
    if key_use == "shared":
        # A repeat of the same request answers with the first order (or asks to retry while it runs).
        assert all(r.status in (201, 409) for r in replies), replies
    else:
        assert len(created) == 1, replies
        assert all(r.status == 409 for r in refused), replies
        # A racer slower than the whole first checkout finds the cart already emptied.
        taken = (
            "this cart is already being checked out",
            "this cart has already been ordered",
            "cart is empty",
        )
        assert all(r.body["error"] in taken for r in refused), refused
    (order_id,) = order_ids
    assert [o["order_id"] for o in await _orders_of(http, token)] == [order_id]
    assert len(_captured(await _payments(platform, people, order_id))) == 1
    assert await _level(platform, people, product_id) == (17, 0)
    # The cart was ordered and emptied: checking out again finds nothing to order.
    again = await http.post("/orders/", token=token)
    assert again.status == 409, again
    assert again.body == {"error": "cart is empty"}


async def test_a_failed_checkout_lets_go_of_the_cart(http: Api, people: Tokens, platform: Platform) -> None:
    product_id = await _product(http, people, stock=2)
    _, token = people.customer()
    await _fill(http, token, product_id, 3)
    short = await http.post("/orders/", token=token)
    assert short.status != 201, short
    # More stock arrives; the same cart (same version) can now be ordered.
    restock = await http.put(f"/products/{product_id}", {"stock": 5}, token=people.admin)
    assert restock.status == 200, restock
    placed = await http.post("/orders/", token=token)
    assert placed.status == 201, placed


async def test_a_changed_cart_is_a_new_cart(http: Api, people: Tokens, platform: Platform) -> None:
    """Two checkouts one after the other of carts the shopper filled twice are two orders."""
    product_id = await _product(http, people, stock=10)
    _, token = people.customer()
    for _ in range(2):
        await _fill(http, token, product_id, 1)
        placed = await http.post("/orders/", token=token)
        assert placed.status == 201, placed
    assert len(await _orders_of(http, token)) == 2
