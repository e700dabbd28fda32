"""/api/products/{id}/reviews: public reading, signed-in writing, a stopped service."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient

from gateway.conftest import Api, User, assert_error, new_product
from gateway.routing import UPSTREAMS
from tests.support.harness import Platform
from tests.support.polling import eventually

NO_RATING = {"average": 0.0, "count": 0, "histogram": [0, 0, 0, 0, 0]}


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    # Checkout too: a review is a verified purchase only with a paid order of the product.
    for name in ("auth", "catalog", "inventory", "reviews", "cart", "payments", "orders"):
        await platform.start(name)


async def review(api: Api, product_id: int, who: User, rating: int, comment: str = "") -> None:
    reply = await api.post(
        f"/api/products/{product_id}/reviews/", {"rating": rating, "comment": comment}, token=who.token
    )
    assert (reply.status, reply.body) == (201, {"message": "Review added"})


async def detailed(api: Api, product_id: int, **params: str) -> list[dict[str, Any]]:
    reply = await api.get(f"/api/products/{product_id}/reviews/", params={"detail": "true", **params})
    assert reply.status == 200, reply
    body: list[dict[str, Any]] = reply.body
    return body


async def rating(api: Api, product_id: int) -> dict[str, Any]:
    reply = await api.get(f"/api/products/{product_id}")
    assert reply.status == 200, reply
    got: dict[str, Any] = reply.body["rating"]
    return got


async def buy(api: Api, product_id: int, who: User) -> int:
    added = await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=who.token)
    assert added.status == 201, added
    order = await api.post("/api/orders/", token=who.token)
    assert order.status == 201, order
    order_id: int = order.body["order_id"]
    return order_id


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


async def test_product_carries_its_rating(api: Api, admin: User, user: User, other_user: User) -> None:
    product_id = await new_product(api, admin)
    got = await api.get(f"/api/products/{product_id}")
    assert got.body["rating"] == NO_RATING
    await review(api, product_id, user, 5)
    await review(api, product_id, other_user, 4)
    got = await api.get(f"/api/products/{product_id}/")
    assert (got.status, got.body) == (
        200,
        {
            "id": product_id,
            "name": got.body["name"],
            "price": 12.5,
            "description": "a thing",
            "stock": 10,
            "rating": {"average": 4.5, "count": 2, "histogram": [0, 0, 0, 1, 1]},
        },
    )


async def _products(api: Api, admin: User, word: str, count: int) -> list[int]:
    ids = []
    for i in range(count):
        reply = await api.post(
            "/api/products/", {"name": f"{word} {i}", "price": 2, "stock": i}, token=admin.token
        )
        assert reply.status == 201, reply
        ids.append(reply.body["id"])
    return ids


async def test_product_list_ratings_only_on_request(
    api: Api, admin: User, user: User, other_user: User
) -> None:
    word = uuid4().hex[:12]
    rated, unrated = await _products(api, admin, word, 2)
    await review(api, rated, user, 1)
    await review(api, rated, other_user, 4)

    plain = await api.get("/api/products/", params={"q": word})
    # The documented shape, exactly: no rating unless asked for.
    assert plain.body == {
        str(rated): {"name": f"{word} 0", "price": 2.0, "description": "", "stock": 0},
        str(unrated): {"name": f"{word} 1", "price": 2.0, "description": "", "stock": 1},
    }
    with_rating = await api.get("/api/products/", params={"q": word, "include": "rating"})
    assert with_rating.status == 200
    assert with_rating.body == {
        str(rated): {
            **plain.body[str(rated)],
            "rating": {"average": 2.5, "count": 2, "histogram": [1, 0, 0, 1, 0]},
        },
        str(unrated): {**plain.body[str(unrated)], "rating": NO_RATING},
    }


async def test_product_list_ratings_are_one_call_per_page(
    api: Api, admin: User, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    word = uuid4().hex[:12]
    ids = await _products(api, admin, word, 3)
    for product_id in ids:
        await review(api, product_id, user, 3)
    assert isinstance(api.client, TestClient)  # the app runs in this process
    reviews = api.client.app[UPSTREAMS].reviews
    real: Callable[..., Any] = reviews.BatchGetRatingSummaries
    asked: list[list[int]] = []

    async def counting(request: Any, **kwargs: Any) -> Any:
        asked.append(list(request.product_ids))
        return await real(request, **kwargs)

    monkeypatch.setattr(reviews, "BatchGetRatingSummaries", counting)
    first = await api.get("/api/products/", params={"q": word, "include": "rating", "page_size": "2"})
    second = await api.get(
        "/api/products/",
        params={
            "q": word,
            "include": "rating",
            "page_size": "2",
            "page_token": first.headers["X-Next-Page-Token"],
        },
    )
    assert [list(first.body), list(second.body)] == [[str(ids[0]), str(ids[1])], [str(ids[2])]]
    assert all(p["rating"]["count"] == 1 for p in (*first.body.values(), *second.body.values()))
    assert asked == [ids[:2], ids[2:]]
    await api.get("/api/products/", params={"q": word})
    assert len(asked) == 2


@pytest.mark.parametrize("include", ["", "stock", "rating,stock", "RATING"])
async def test_unknown_includes_are_400(api: Api, include: str) -> None:
    assert_error(await api.get("/api/products/", params={"include": include}), 400, mentions="include")


async def test_a_second_review_updates_the_first(api: Api, admin: User, user: User) -> None:
    product_id = await new_product(api, admin)
    await review(api, product_id, user, 2, "first thoughts")
    [first] = await detailed(api, product_id)
    await review(api, product_id, user, 5, "grew on me")
    assert (await api.get(f"/api/products/{product_id}/reviews/")).body == [
        {"rating": 5, "comment": "grew on me"}
    ]
    [second] = await detailed(api, product_id)
    assert (second["id"], second["created_at"]) == (first["id"], first["created_at"])
    assert await rating(api, product_id) == {"average": 5.0, "count": 1, "histogram": [0, 0, 0, 0, 1]}


async def test_detail_and_sorting(api: Api, admin: User) -> None:
    product_id = await new_product(api, admin)
    users = [await api.register() for _ in range(3)]
    for who, stars in zip(users, (3, 5, 1), strict=True):
        await review(api, product_id, who, stars, f"{stars} stars")

    newest = await detailed(api, product_id)
    assert [r["rating"] for r in newest] == [1, 5, 3]
    for r in newest:
        # No reviewer's user id in a public listing (nor any other field naming the reviewer).
        assert set(r) == {"id", "rating", "comment", "verified_purchase", "created_at"}
        assert r["comment"] == f"{r['rating']} stars"
        assert r["verified_purchase"] is False
        assert datetime.fromisoformat(r["created_at"]).tzinfo is not None
    assert [r["rating"] for r in await detailed(api, product_id, sort="highest")] == [5, 3, 1]
    assert [r["rating"] for r in await detailed(api, product_id, sort="lowest")] == [1, 3, 5]
    # The default stays the documented [{rating, comment}], newest first.
    plain = await api.get(f"/api/products/{product_id}/reviews/", params={"detail": "false"})
    assert plain.body == [{"rating": s, "comment": f"{s} stars"} for s in (1, 5, 3)]
    paged = await detailed(api, product_id, sort="lowest", page_size="2")
    assert [r["rating"] for r in paged] == [1, 3]


@pytest.mark.parametrize("detail", ["maybe", "2", ""])
async def test_bad_detail_is_400(api: Api, detail: str) -> None:
    assert_error(await api.get("/api/products/1/reviews/", params={"detail": detail}), 400, mentions="detail")


async def test_hidden_reviews_are_neither_listed_nor_counted(
    api: Api, admin: User, user: User, other_user: User
) -> None:
    product_id = await new_product(api, admin)
    await review(api, product_id, user, 5, "kept")
    await review(api, product_id, other_user, 1, "spam")
    spam = next(r for r in await detailed(api, product_id) if r["comment"] == "spam")
    path = f"/api/admin/reviews/{spam['id']}/hidden"

    assert_error(await api.put(path, {"hidden": True}, token=user.token), 403)
    assert_error(await api.put(path, {"hidden": True}), 401)
    for body in ({}, {"hidden": "true"}, {"hidden": 1}, {"hidden": None}):
        assert_error(await api.put(path, body, token=admin.token), 400, mentions="hidden")
    assert_error(
        await api.put(f"/api/admin/reviews/{2**62}/hidden", {"hidden": True}, token=admin.token), 404
    )
    assert (await rating(api, product_id))["count"] == 2

    hidden = await api.put(path, {"hidden": True}, token=admin.token)
    assert (hidden.status, hidden.body) == (200, {"message": "Review hidden"})
    assert (await api.get(f"/api/products/{product_id}/reviews/")).body == [{"rating": 5, "comment": "kept"}]
    assert await rating(api, product_id) == {"average": 5.0, "count": 1, "histogram": [0, 0, 0, 0, 1]}
    # Hiding again changes nothing; showing brings it back.
    assert (await api.put(path + "/", {"hidden": True}, token=admin.token)).status == 200
    assert (await rating(api, product_id))["count"] == 1
    shown = await api.put(path, {"hidden": False}, token=admin.token)
    assert (shown.status, shown.body) == (200, {"message": "Review shown"})
    assert await rating(api, product_id) == {"average": 3.0, "count": 2, "histogram": [1, 0, 0, 0, 1]}


async def test_delete_by_author_or_admin(api: Api, admin: User, user: User, other_user: User) -> None:
    product_id = await new_product(api, admin)
    await review(api, product_id, user, 4, "mine")
    await review(api, product_id, other_user, 2, "theirs")
    ids = {r["comment"]: r["id"] for r in await detailed(api, product_id)}

    # Someone else's review is 404, as one that does not exist: its existence is not given away.
    stranger = await api.delete(f"/api/reviews/{ids['mine']}", token=other_user.token)
    missing = await api.delete(f"/api/reviews/{2**62}", token=other_user.token)
    assert_error(stranger, 404)
    same = stranger.body["error"].replace(str(ids["mine"]), "?")
    assert same == missing.body["error"].replace(str(2**62), "?")
    assert_error(await api.delete(f"/api/reviews/{ids['mine']}"), 401)
    assert (await rating(api, product_id))["count"] == 2

    deleted = await api.delete(f"/api/reviews/{ids['mine']}", token=user.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Review deleted"})
    assert_error(await api.delete(f"/api/reviews/{ids['mine']}/", token=user.token), 404)
    assert await rating(api, product_id) == {"average": 2.0, "count": 1, "histogram": [0, 1, 0, 0, 0]}

    by_admin = await api.delete(f"/api/reviews/{ids['theirs']}/", token=admin.token)
    assert (by_admin.status, by_admin.body) == (200, {"message": "Review deleted"})
    assert (await api.get(f"/api/products/{product_id}/reviews/")).body == []
    assert await rating(api, product_id) == NO_RATING


async def test_verified_purchase_needs_a_paid_order(
    api: Api, admin: User, user: User, other_user: User
) -> None:
    product_id = await new_product(api, admin)
    canceller = await api.register()
    await buy(api, product_id, user)
    cancelled = await buy(api, product_id, canceller)
    assert (await api.post(f"/api/orders/{cancelled}/cancel", token=canceller.token)).status == 200

    for name, who in (("user", user), ("other_user", other_user), ("canceller", canceller)):
        await review(api, product_id, who, 4, f"by {name}")
    verified = {r["comment"]: r["verified_purchase"] for r in await detailed(api, product_id)}
    assert verified == {"by user": True, "by other_user": False, "by canceller": False}
    # The documented listing does not show it.
    plain = (await api.get(f"/api/products/{product_id}/reviews/")).body
    assert sorted(plain, key=lambda r: r["comment"]) == [
        {"rating": 4, "comment": f"by {name}"} for name in ("canceller", "other_user", "user")
    ]


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
        # Other resources keep working: a product comes without its rating.
        product = await api.get(f"/api/products/{product_id}")
        assert (product.status, product.body["rating"]) == (200, None)
        listed = await api.get("/api/products/", params={"include": "rating", "page_size": "1"})
        assert listed.status == 200
        assert [p["rating"] for p in listed.body.values()] == [None]
    finally:
        await platform.start("reviews")
    # The gateway reconnects on its own once the service is back.
    await eventually(lambda: api.get(path), lambda reply: reply.status == 200)
