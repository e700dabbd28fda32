"""/api/products: the documented bodies, paging and search, admin-only writes, strict input."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from gateway.conftest import Api, User, assert_error, new_product
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "reviews"):
        await platform.start(name)


# What GET /api/products/{id} adds for a product nobody reviewed (gateway/test_reviews.py: ratings).
NO_RATING = {"rating": {"average": 0.0, "count": 0, "histogram": [0, 0, 0, 0, 0]}}


async def test_documented_create_get_update_delete(api: Api, admin: User) -> None:
    name = f"Product {uuid4().hex[:8]}"
    created = await api.post(
        "/api/products/",
        {"name": name, "price": 100.00, "description": "Product Description", "stock": 50},
        token=admin.token,
    )
    assert created.status == 201
    product_id = created.body["id"]
    assert created.body == {"id": product_id, "message": "Product added"}
    assert isinstance(product_id, int)
    assert product_id > 0

    expected = {
        "id": product_id,
        "name": name,
        "price": 100.0,
        "description": "Product Description",
        "stock": 50,
        **NO_RATING,
    }
    for path in (f"/api/products/{product_id}", f"/api/products/{product_id}/"):
        got = await api.get(path)
        assert (got.status, got.body) == (200, expected)

    updated = await api.put(f"/api/products/{product_id}", {"price": 90.00}, token=admin.token)
    assert (updated.status, updated.body) == (200, {"message": "Product updated"})
    assert (await api.get(f"/api/products/{product_id}")).body == {**expected, "price": 90.0}

    deleted = await api.delete(f"/api/products/{product_id}", token=admin.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Product deleted"})
    gone = await api.get(f"/api/products/{product_id}")
    assert gone.status == 404
    assert set(gone.body) == {"error"}
    again = await api.delete(f"/api/products/{product_id}/", token=admin.token)
    assert again.status == 404


async def test_minimal_product_and_cents(api: Api, admin: User) -> None:
    created = await api.post("/api/products", {"name": "Pen", "price": 19.99}, token=admin.token)
    assert created.status == 201
    got = await api.get(f"/api/products/{created.body['id']}")
    assert got.body == {
        "id": created.body["id"],
        "name": "Pen",
        "price": 19.99,
        "description": "",
        "stock": 0,
        **NO_RATING,
    }
    free = await api.post("/api/products", {"name": "Free", "price": 0}, token=admin.token)
    assert free.status == 201
    assert (await api.get(f"/api/products/{free.body['id']}")).body["price"] == 0.0


async def test_every_field_can_be_updated_alone(api: Api, admin: User) -> None:
    product_id = await new_product(api, admin, price=5, stock=1)
    for change in ({"name": "Renamed"}, {"description": "new words"}, {"price": 7.25}, {"stock": 42}):
        reply = await api.put(f"/api/products/{product_id}/", change, token=admin.token)
        assert (reply.status, reply.body) == (200, {"message": "Product updated"})
    got = await api.get(f"/api/products/{product_id}")
    assert got.body == {
        "id": product_id,
        "name": "Renamed",
        "price": 7.25,
        "description": "new words",
        "stock": 42,
        **NO_RATING,
    }


async def test_updating_a_missing_product_is_404(api: Api, admin: User) -> None:
    for change in ({"price": 1}, {"stock": 1}):
        reply = await api.put(f"/api/products/{2**62}", change, token=admin.token)
        assert reply.status == 404
        assert set(reply.body) == {"error"}


async def test_list_is_keyed_by_id_with_stock(api: Api, admin: User) -> None:
    word = uuid4().hex[:12]
    ids = []
    for i in range(3):
        reply = await api.post(
            "/api/products/",
            {"name": f"{word} {i}", "price": 1.5 + i, "description": f"about {word}", "stock": i},
            token=admin.token,
        )
        ids.append(reply.body["id"])

    listed = await api.get("/api/products/", params={"q": word})
    assert listed.status == 200
    assert listed.body == {
        str(pid): {"name": f"{word} {i}", "price": 1.5 + i, "description": f"about {word}", "stock": i}
        for i, pid in enumerate(ids)
    }
    assert "X-Next-Page-Token" not in listed.headers

    # Paging: two pages of two and one, the token in a header.
    first = await api.get("/api/products", params={"q": word, "page_size": "2"})
    assert list(first.body) == [str(ids[0]), str(ids[1])]
    token = first.headers["X-Next-Page-Token"]
    second = await api.get("/api/products/", params={"q": word, "page_size": "2", "page_token": token})
    assert list(second.body) == [str(ids[2])]
    assert "X-Next-Page-Token" not in second.headers

    nothing = await api.get("/api/products/", params={"q": uuid4().hex})
    assert (nothing.status, nothing.body) == (200, {})


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": "0"},
        {"page_size": "201"},
        {"page_size": "abc"},
        {"page_size": "1.5"},
        {"page_token": "%%%"},
    ],
)
async def test_bad_list_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    reply = await api.get("/api/products/", params=params)
    assert_error(reply, 400)


VALID = {"name": "Valid", "price": 10.0, "description": "d", "stock": 1}
BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({**VALID, "price": "abc"}, "price"),
    ({**VALID, "price": "10"}, "price"),
    ({**VALID, "price": True}, "price"),
    ({**VALID, "price": None}, "price"),
    ({**VALID, "price": -1}, "price"),
    ({**VALID, "price": 1.001}, "price"),
    ({**VALID, "price": 1e300}, "price"),
    ({**VALID, "price": [1]}, "price"),
    ({**VALID, "stock": -1}, "stock"),
    ({**VALID, "stock": 1.5}, "stock"),
    ({**VALID, "stock": "2"}, "stock"),
    ({**VALID, "stock": False}, "stock"),
    ({**VALID, "stock": 2**63}, "stock"),
    ({**VALID, "name": ""}, "name"),
    ({**VALID, "name": "x" * 201}, "name"),
    ({**VALID, "name": 5}, "name"),
    ({**VALID, "description": 5}, "description"),
    ({"price": 1}, "name"),
    ({"name": "x"}, "price"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATES)
async def test_bad_products_are_400_naming_the_field(
    api: Api, admin: User, body: dict[str, Any], field: str
) -> None:
    reply = await api.post("/api/products/", body, token=admin.token)
    assert reply.status == 400, reply
    assert set(reply.body) == {"error"}
    assert field in reply.body["error"]


async def test_a_blank_name_is_refused_by_the_catalog(api: Api, admin: User) -> None:
    reply = await api.post("/api/products/", {**VALID, "name": "   "}, token=admin.token)
    assert reply.status == 400
    assert "name" in reply.body["error"]


async def test_extra_fields_are_ignored(api: Api, admin: User) -> None:
    reply = await api.post("/api/products/", {**VALID, "colour": "red", "id": 2**62}, token=admin.token)
    assert reply.status == 201
    got = await api.get(f"/api/products/{reply.body['id']}")
    assert got.body == {
        "id": reply.body["id"],
        "name": "Valid",
        "price": 10.0,
        "description": "d",
        "stock": 1,
        **NO_RATING,
    }


@pytest.mark.parametrize(
    "body",
    [{}, {"price": "1"}, {"price": None}, {"stock": -1}, {"stock": 1.5}, {"name": ""}, {"price": 0.005}],
)
async def test_bad_updates_are_400(api: Api, admin: User, body: dict[str, Any]) -> None:
    product_id = await new_product(api, admin)
    reply = await api.put(f"/api/products/{product_id}", body, token=admin.token)
    assert_error(reply, 400)
