"""/api/auth: the documented bodies and the failures a client meets."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from gateway.conftest import Api, User
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    await platform.start("auth")


async def test_register_login_me_logout(api: Api) -> None:
    email, password = f"doc{uuid4().hex[:12]}@example.com", "securepassword"
    registered = await api.post("/api/auth/register/", {"email": email, "password": password})
    assert registered.status == 201
    user_id = registered.body["user_id"]
    assert registered.body == {"user_id": user_id, "message": "User registered"}
    assert isinstance(user_id, int)
    assert user_id > 0

    logged_in = await api.post("/api/auth/login", {"email": email, "password": password})
    assert logged_in.status == 200
    assert set(logged_in.body) == {"token"}
    assert logged_in.body["token"].count(".") == 2
    token = logged_in.body["token"]

    for path in ("/api/auth/me/", "/api/auth/me"):
        me = await api.get(path, token=token)
        assert (me.status, me.body) == (200, {"user_id": user_id, "email": email})

    out = await api.post("/api/auth/logout", token=token)
    assert (out.status, out.body) == (200, {"message": "Logged out"})
    after = await api.get("/api/auth/me/", token=token)
    assert (after.status, after.body) == (401, {"error": "Invalid or expired token"})


async def test_duplicate_email_is_409(api: Api, customer: User) -> None:
    reply = await api.post("/api/auth/register/", {"email": customer.email, "password": "another-password"})
    assert reply.status == 409
    assert set(reply.body) == {"error"}


async def test_wrong_password_is_401(api: Api, customer: User) -> None:
    reply = await api.post("/api/auth/login/", {"email": customer.email, "password": "wrong-password"})
    assert reply.status == 401
    assert set(reply.body) == {"error"}
    unknown = await api.post("/api/auth/login/", {"email": f"{uuid4().hex}@x.test", "password": "whatever1"})
    assert unknown.status == 401


async def test_admin_is_an_admin(api: Api, admin: User) -> None:
    me = await api.get("/api/auth/me/", token=admin.token)
    assert me.body == {"user_id": admin.user_id, "email": admin.email}
    assert (await api.get("/api/inventory/", token=admin.token)).status != 403


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@b.test"},
        {"password": "securepassword"},
        {"email": 5, "password": "securepassword"},
        {"email": "a@b.test", "password": True},
        {"email": None, "password": "securepassword"},
        {"email": "not-an-email", "password": "securepassword"},
        {"email": "", "password": ""},
    ],
)
@pytest.mark.parametrize("path", ["/api/auth/register/", "/api/auth/login/"])
async def test_bad_credentials_bodies_are_4xx(api: Api, path: str, body: dict[str, Any]) -> None:
    reply = await api.post(path, body)
    assert reply.status in (400, 401), reply
    assert set(reply.body) == {"error"}


async def test_the_gateway_checks_tokens_itself_and_refuses_a_logout_at_once(
    api: Api, platform: Platform, user: User
) -> None:
    """The gateway checks a token as the services do (signature, then auth's revocation list in
    Redis), not with a call to auth per request: with auth down, signed-in shoppers keep reading
    their carts, and a logged-out token is refused at once on a route auth has no part in."""
    await platform.start("cart")
    token = user.token
    await platform.stop("auth")
    try:
        cart = await api.get("/api/cart/", token=token)
        assert (cart.status, cart.body) == (200, {}), cart  # the documented empty cart
        bad = await api.get("/api/cart/", token=token[:-4] + "AAAA")
        assert (bad.status, bad.body) == (401, {"error": "Invalid or expired token"})
    finally:
        await platform.start("auth")
    out = await api.post("/api/auth/logout", token=token)
    assert out.status == 200, out
    after = await api.get("/api/cart/", token=token)
    assert (after.status, after.body) == (401, {"error": "Invalid or expired token"})
