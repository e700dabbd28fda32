"""/api/inventory: admin-only stock levels."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.conftest import Api, User, assert_error, new_product
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory"):
        await platform.start(name)


async def test_set_and_list_stock(api: Api, admin: User) -> None:
    first = await new_product(api, admin, stock=50)
    second = await new_product(api, admin, stock=None)
    reply = await api.put(f"/api/inventory/{second}/", {"stock": 100}, token=admin.token)
    assert (reply.status, reply.body) == (200, {"message": "Stock updated"})
    again = await api.put(f"/api/inventory/{first}", {"stock": 7}, token=admin.token)
    assert (again.status, again.body) == (200, {"message": "Stock updated"})

    for path in ("/api/inventory/", "/api/inventory"):
        listed = await api.get(path, token=admin.token)
        assert listed.status == 200
        assert listed.body[str(first)] == 7
        assert listed.body[str(second)] == 100
        assert all(isinstance(v, int) for v in listed.body.values())
    assert (await api.get(f"/api/products/{second}")).body["stock"] == 100


async def test_customers_cannot_see_or_set_stock(api: Api, customer: User, admin: User) -> None:
    product_id = await new_product(api, admin)
    listed = await api.get("/api/inventory/", token=customer.token)
    assert (listed.status, listed.body) == (403, {"error": "Admin role required"})
    put = await api.put(f"/api/inventory/{product_id}/", {"stock": 1}, token=customer.token)
    assert (put.status, put.body) == (403, {"error": "Admin role required"})


@pytest.mark.parametrize(
    "body", [{}, {"stock": -1}, {"stock": 1.5}, {"stock": "2"}, {"stock": None}, {"stock": True}, {"qty": 1}]
)
async def test_bad_stock_is_400(api: Api, admin: User, body: dict[str, Any]) -> None:
    product_id = await new_product(api, admin)
    reply = await api.put(f"/api/inventory/{product_id}/", body, token=admin.token)
    assert_error(reply, 400, mentions="stock")
