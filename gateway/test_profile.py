"""/api/profile, /api/admin/profiles and account deletion over real HTTP in front of real services.

A user reaches only their own profile: another user's address id is a 404 (as if it did not
exist), and the admin routes are a 403 for customers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.conftest import Api, User, assert_error, new_product
from tests.support.harness import Platform
from tests.support.polling import eventually

HOME = {"label": "Home", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "profile", "catalog", "inventory", "cart", "reviews", "orders"):
        await platform.start(name)
        # Earlier modules may have met these services down: wait out any reconnect backoff that
        # the in-process clients (the gateway's included) share.
        await asyncio.wait_for(platform.channel(name).channel_ready(), timeout=10)


async def _add(api: Api, user: User, **fields: Any) -> dict[str, Any]:
    reply = await api.post("/api/profile/addresses/", {**HOME, **fields}, token=user.token)
    assert reply.status == 201, reply
    body: dict[str, Any] = reply.body
    return body


# --- the profile -------------------------------------------------------------------------------


async def test_profile_round_trip(api: Api, user: User) -> None:
    empty = await api.get("/api/profile/", token=user.token)
    assert (empty.status, empty.body) == (
        200,
        {
            "user_id": user.user_id,
            "email": user.email,
            "display_name": "",
            "phone": "",
            "marketing_opt_in": False,
            "locale": "",
            "currency": "",
        },
    )
    changed = await api.put(
        "/api/profile",
        {"display_name": "Ada", "phone": "+1 415 555 0123", "marketing_opt_in": True, "locale": "en-GB"},
        token=user.token,
    )
    assert changed.status == 200, changed
    assert changed.body == {**empty.body, "display_name": "Ada", "phone": "+14155550123"} | {
        "marketing_opt_in": True,
        "locale": "en-GB",
    }
    only_currency = await api.put("/api/profile/", {"currency": "EUR"}, token=user.token)
    assert only_currency.body == {**changed.body, "currency": "EUR"}
    assert (await api.get("/api/profile", token=user.token)).body == only_currency.body


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"display_name": None},
        {"display_name": 5},
        {"display_name": "x" * 101},
        {"phone": "not a phone"},
        {"phone": "0123456789"},
        {"marketing_opt_in": "yes"},
        {"marketing_opt_in": 1},
        {"currency": "dollars"},
        {"currency": "X1Z"},
        {"locale": "en_US!"},
    ],
)
async def test_bad_profile_changes_are_400(api: Api, customer: User, body: dict[str, Any]) -> None:
    before = await api.get("/api/profile/", token=customer.token)
    assert_error(await api.put("/api/profile/", body, token=customer.token), 400)
    assert (await api.get("/api/profile/", token=customer.token)).body == before.body


async def test_profile_needs_a_user(api: Api) -> None:
    assert_error(await api.get("/api/profile/"), 401)
    assert_error(await api.put("/api/profile/", {"display_name": "x"}), 401)


# --- addresses ---------------------------------------------------------------------------------


async def test_address_book(api: Api, user: User) -> None:
    assert (await api.get("/api/profile/addresses/", token=user.token)).body == []
    home = await _add(api, user)
    assert home == {
        "id": home["id"],
        "label": "Home",
        "name": "",
        "line1": "1 Main St",
        "line2": "",
        "city": "Springfield",
        "region": "",
        "postal_code": "12345",
        "country": "US",
        "phone": "",
        "is_default": True,
    }
    work = await _add(api, user, label="Work", line1="9 Office Rd", country="gb", phone="+44 20 7946 0000")
    assert (work["is_default"], work["country"], work["phone"]) == (False, "GB", "+442079460000")
    listed = await api.get("/api/profile/addresses", token=user.token)
    assert [(a["id"], a["is_default"]) for a in listed.body] == [(home["id"], True), (work["id"], False)]

    moved = await api.put(f"/api/profile/addresses/{home['id']}", {"city": "Shelbyville"}, token=user.token)
    assert moved.status == 200, moved
    assert moved.body == {**home, "city": "Shelbyville"}
    relabelled = await api.put(f"/api/profile/addresses/{home['id']}/", {"label": "Old"}, token=user.token)
    assert relabelled.body == {**moved.body, "label": "Old"}

    made_default = await api.post(f"/api/profile/addresses/{work['id']}/default", token=user.token)
    assert (made_default.status, made_default.body["is_default"]) == (200, True)
    listed = await api.get("/api/profile/addresses/", token=user.token)
    assert [(a["id"], a["is_default"]) for a in listed.body] == [(work["id"], True), (home["id"], False)]

    deleted = await api.delete(f"/api/profile/addresses/{work['id']}", token=user.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Address deleted"})
    # The oldest remaining address becomes the default.
    listed = await api.get("/api/profile/addresses/", token=user.token)
    assert [(a["id"], a["is_default"]) for a in listed.body] == [(home["id"], True)]
    again = await api.delete(f"/api/profile/addresses/{work['id']}/", token=user.token)
    assert_error(again, 404, mentions="not found")


@pytest.mark.parametrize(
    "fields",
    [
        {"line1": None},
        {"line1": ""},
        {"line1": "   "},
        {"city": 7},
        {"postal_code": ""},
        {"postal_code": "12#45"},
        {"country": "USA"},
        {"country": "XX"},
        {"phone": "12345"},
        {"label": "x" * 51},
        {"is_default": "true"},
    ],
)
async def test_bad_addresses_are_400(api: Api, customer: User, fields: dict[str, Any]) -> None:
    body = {k: v for k, v in {**HOME, **fields}.items() if v is not None}
    assert_error(await api.post("/api/profile/addresses/", body, token=customer.token), 400)


async def test_bad_address_changes_are_400_or_404(api: Api, user: User) -> None:
    home = await _add(api, user)
    path = f"/api/profile/addresses/{home['id']}"
    for body in ({}, {"country": "XX"}, {"line1": ""}, {"label": None}, {"postal_code": 12345}):
        assert_error(await api.put(path, body, token=user.token), 400)
    assert (await api.get("/api/profile/addresses/", token=user.token)).body == [home]
    assert_error(await api.put("/api/profile/addresses/999999999999", {"city": "X"}, token=user.token), 404)
    assert_error(await api.put("/api/profile/addresses/999999999999", {"label": "X"}, token=user.token), 404)
    assert_error(await api.post("/api/profile/addresses/999999999999/default", token=user.token), 404)


async def test_at_most_twenty_addresses(api: Api, user: User) -> None:
    for i in range(20):
        await _add(api, user, label=f"#{i}")
    assert_error(await api.post("/api/profile/addresses/", HOME, token=user.token), 409, mentions="20")


async def test_nobody_reaches_another_users_addresses(api: Api, user: User, other_user: User) -> None:
    mine = await _add(api, user)
    path = f"/api/profile/addresses/{mine['id']}"
    assert_error(await api.put(path, {"label": "theirs"}, token=other_user.token), 404)
    assert_error(await api.put(path, {"city": "Elsewhere"}, token=other_user.token), 404)
    assert_error(await api.delete(path, token=other_user.token), 404)
    assert_error(await api.post(f"{path}/default", token=other_user.token), 404)
    assert (await api.get("/api/profile/addresses/", token=other_user.token)).body == []
    assert (await api.get("/api/profile/addresses/", token=user.token)).body == [mine]
    # Customers get 403 on the admin look-up, for anyone including themselves.
    assert_error(await api.get(f"/api/admin/profiles/{user.user_id}", token=other_user.token), 403)
    assert_error(await api.get(f"/api/admin/profiles/{user.user_id}", token=user.token), 403)
    assert_error(await api.get("/api/admin/profiles/", token=user.token), 403)


# --- admin look-up -----------------------------------------------------------------------------


async def test_admins_look_customers_up(api: Api, admin: User, user: User) -> None:
    await api.put("/api/profile/", {"display_name": f"Look Me Up {user.user_id}"}, token=user.token)
    home = await _add(api, user)
    by_email = await api.get("/api/admin/profiles/", token=admin.token, params={"q": user.email.upper()})
    assert by_email.status == 200, by_email
    assert [(p["user_id"], p["email"]) for p in by_email.body] == [(user.user_id, user.email)]
    by_name = await api.get("/api/admin/profiles", token=admin.token, params={"q": f"me up {user.user_id}"})
    assert [p["user_id"] for p in by_name.body] == [user.user_id]

    detail = await api.get(f"/api/admin/profiles/{user.user_id}", token=admin.token)
    assert detail.status == 200, detail
    assert (detail.body["email"], detail.body["display_name"]) == (user.email, f"Look Me Up {user.user_id}")
    assert detail.body["addresses"] == [home]
    assert_error(await api.get("/api/admin/profiles/999999999999", token=admin.token), 404)

    first = await api.get("/api/admin/profiles/", token=admin.token, params={"page_size": "1"})
    assert len(first.body) == 1
    second = await api.get(
        "/api/admin/profiles/",
        token=admin.token,
        params={"page_size": "1", "page_token": first.headers["X-Next-Page-Token"]},
    )
    assert second.body[0]["user_id"] > first.body[0]["user_id"]
    for params in ({"page_size": "0"}, {"page_size": "x"}, {"page_token": "%%%"}, {"q": "q" * 255}):
        assert_error(await api.get("/api/admin/profiles/", token=admin.token, params=params), 400)


# --- account deletion --------------------------------------------------------------------------


async def test_deleting_your_account_removes_your_data(api: Api, admin: User) -> None:
    me = await api.register()
    product_id = await new_product(api, admin)
    await api.put("/api/profile/", {"display_name": "Leaving"}, token=me.token)
    await _add(api, me)
    assert (
        await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=me.token)
    ).status == 201
    review = await api.post(
        f"/api/products/{product_id}/reviews/", {"rating": 3, "comment": "bye"}, token=me.token
    )
    assert review.status == 201

    deleted = await api.delete("/api/auth/me/", token=me.token)
    assert (deleted.status, deleted.body) == (200, {"message": "Account deleted"})
    assert_error(await api.get("/api/auth/me/", token=me.token), 401)
    assert_error(await api.post("/api/auth/login/", {"email": me.email, "password": me.password}), 401)

    # The other services forget the person shortly after (in the background).
    await eventually(lambda: api.get(f"/api/products/{product_id}/reviews/"), lambda r: r.body == [])
    await eventually(
        lambda: api.get(f"/api/admin/profiles/{me.user_id}", token=admin.token), lambda r: r.status == 404
    )
    found = await api.get("/api/admin/profiles/", token=admin.token, params={"q": me.email})
    assert found.body == []


async def test_admins_delete_accounts(api: Api, admin: User, customer: User) -> None:
    someone = await api.register()
    await api.put("/api/profile/", {"display_name": "Removed by support"}, token=someone.token)
    assert_error(await api.delete(f"/api/admin/users/{someone.user_id}", token=customer.token), 403)

    deleted = await api.delete(f"/api/admin/users/{someone.user_id}", token=admin.token)
    assert (deleted.status, deleted.body) == (200, {"message": "User deleted"})
    # Every token of the account stops working at once.
    assert_error(await api.get("/api/profile/", token=someone.token), 401)
    assert_error(await api.delete(f"/api/admin/users/{someone.user_id}/", token=admin.token), 404)
    await eventually(
        lambda: api.get(f"/api/admin/profiles/{someone.user_id}", token=admin.token),
        lambda r: r.status == 404,
    )
    # The admin is still there.
    assert (await api.get("/api/auth/me/", token=admin.token)).status == 200
