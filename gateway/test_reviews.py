"""/api/products/{id}/reviews: public reading, signed-in writing, a stopped service."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.conftest import Api, User, assert_error, new_product
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "reviews"):
        await platform.start(name)


async def test_add_and_list_reviews(api: Api, admin: User, user: User, other_user: User) -> None:
    product_id = await new_product(api, admin)
    path = f"/api/products/{product_id}/reviews/"
    assert (await api.get(path)).body == []

    added = await api.post(path, {"rating": 5, "comment": "Great product!"}, token=user.token)
    assert (added.status, added.body) == (201, {"message": "Review added"})
    other = await api.post(path.rstrip("/"), {"rating": 2, "comment": "Meh"}, token=other_user.token)
    assert (other.status, other.body) == (201, {"message": "Review added"})

    highest = await api.get(path, params={"sort": "highest"})
    assert (highest.status, highest.body) == (
        200,
        [{"rating": 5, "comment": "Great product!"}, {"rating": 2, "comment": "Meh"}],
    )
    lowest = await api.get(path.rstrip("/"), params={"sort": "lowest"})
    assert lowest.body == [{"rating": 2, "comment": "Meh"}, {"rating": 5, "comment": "Great product!"}]

    first = await api.get(path, params={"page_size": "1", "sort": "highest"})
    assert first.body == [{"rating": 5, "comment": "Great product!"}]
    second = await api.get(
        path, params={"page_size": "1", "sort": "highest", "page_token": first.headers["X-Next-Page-Token"]}
    )
    assert second.body == [{"rating": 2, "comment": "Meh"}]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"comment": "no rating"},
        {"rating": "5", "comment": "x"},
        {"rating": 4.5, "comment": "x"},
        {"rating": True, "comment": "x"},
        {"rating": 0, "comment": "x"},
        {"rating": 6, "comment": "x"},
        {"rating": -1, "comment": "x"},
        {"rating": 5, "comment": 5},
    ],
)
async def test_bad_reviews_are_400(api: Api, admin: User, customer: User, body: dict[str, Any]) -> None:
    product_id = await new_product(api, admin)
    reply = await api.post(f"/api/products/{product_id}/reviews/", body, token=customer.token)
    assert_error(reply, 400)


@pytest.mark.parametrize("params", [{"sort": "random"}, {"page_size": "0"}, {"page_size": "x"}])
async def test_bad_review_queries_are_400(api: Api, params: dict[str, str]) -> None:
    reply = await api.get("/api/products/1/reviews/", params=params)
    assert reply.status == 400
    assert set(reply.body) == {"error"}


async def test_writing_needs_a_user(api: Api) -> None:
    reply = await api.post("/api/products/1/reviews/", {"rating": 5, "comment": "x"})
    assert (reply.status, reply.body) == (401, {"error": "Authentication required"})


async def test_a_stopped_service_is_a_fast_503(api: Api, admin: User, platform: Platform) -> None:
    product_id = await new_product(api, admin)
    path = f"/api/products/{product_id}/reviews/"
    assert (await api.get(path)).status == 200
    await platform.stop("reviews")
    try:
        started = time.monotonic()
        reply = await api.get(path)
        assert time.monotonic() - started < 2
        assert (reply.status, reply.body) == (503, {"error": "reviews service unavailable"})
        # Other resources keep working.
        assert (await api.get(f"/api/products/{product_id}")).status == 200
    finally:
        await platform.start("reviews")
    # The gateway reconnects on its own once the service is back.
    deadline = time.monotonic() + 10
    while (await api.get(path)).status != 200:
        assert time.monotonic() < deadline, "the gateway did not reconnect to reviews"
        await asyncio.sleep(0.2)
