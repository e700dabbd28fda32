"""/api/products with stock, when inventory cannot take it: all of a change or none of it."""

from __future__ import annotations

from uuid import uuid4

import pytest

from gateway.conftest import Api, User, new_product
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "reviews"):
        await platform.start(name)


async def test_with_inventory_down_a_change_with_stock_keeps_name_and_price(
    api: Api, admin: User, platform: Platform
) -> None:
    product_id = await new_product(api, admin, price=5, stock=3)
    before = (await api.get(f"/api/products/{product_id}")).body
    name = f"Never {uuid4().hex[:8]}"
    await platform.stop("inventory")
    try:
        changed = await api.put(
            f"/api/products/{product_id}", {"name": name, "price": 9.5, "stock": 1}, token=admin.token
        )
        created = await api.post("/api/products/", {"name": name, "price": 1, "stock": 1}, token=admin.token)
    finally:
        await platform.start("inventory")
    assert (changed.status, changed.body) == (503, {"error": "inventory service unavailable"})
    assert (created.status, created.body) == (503, {"error": "inventory service unavailable"})
    after = (await api.get(f"/api/products/{product_id}")).body
    assert (after["name"], after["price"], after["stock"]) == (before["name"], 5.0, 3)
    assert (await api.get("/api/products/", params={"q": name})).body == {}
