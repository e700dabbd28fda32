"""Browser sessions through the real gateway and services: cookie flags, CSRF refusals, rotation
and reuse, sign-out, sign-out everywhere, an admin ending sessions, account deletion, Bearer
callers untouched, and the guest cart merged at sign-in.

Cookies are read from Set-Cookie and sent back by hand (the client keeps none), as a browser would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from http.cookies import Morsel, SimpleCookie
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.conftest import Api, Reply, User, assert_error, gateway_settings, new_product
from gateway.sessions import CROSS_SITE, CSRF_MISSING
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "cart", "profile"):
        await platform.start(name)


@dataclass
class Browser:
    """One browser's cookie jar (name -> value), fed by every answer's Set-Cookie."""

    api: Api
    jar: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    origin: str = ""
    last_cookies: dict[str, Morsel[str]] = field(default_factory=dict)

    async def call(
        self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> Reply:
        sent = {"Origin": self.origin} if self.origin else {}
        if self.jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        if self.csrf and method not in ("GET", "HEAD"):
            sent["X-CSRF-Token"] = self.csrf
        reply = await self.api.call(method, path, body, headers={**sent, **(headers or {})}, **kw)
        self.last_cookies = {}
        for header in reply.headers.getall("Set-Cookie", []):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.last_cookies[name] = morsel
                if morsel.value and morsel["max-age"] != "0":
                    self.jar[name] = morsel.value
                else:
                    self.jar.pop(name, None)
        return reply

    async def sign_in(self, user: User) -> Reply:
        reply = await self.call(
            "POST", "/api/auth/session/", {"email": user.email, "password": user.password}
        )
        assert reply.status == 201, reply
        self.csrf = reply.body["csrf_token"]
        return reply


@pytest.fixture(scope="module")
async def plain(platform: Platform) -> AsyncIterator[Api]:
    """A gateway whose test client keeps no cookies of its own (each Browser keeps its jar)."""
    app = create_app(gateway_settings(platform))
    async with TestClient(TestServer(app), cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield Api(client)


def _browser(api: Api) -> Browser:
    host = api.client.host if isinstance(api.client, TestClient) else "127.0.0.1"
    port = api.client.port if isinstance(api.client, TestClient) else 0
    return Browser(api, origin=f"http://{host}:{port}")


async def test_sign_in_sets_httponly_samesite_cookies_and_gives_no_token_to_the_page(
    plain: Api, user: User
) -> None:
    browser = _browser(plain)
    reply = await browser.sign_in(user)
    assert set(reply.body) == {"user_id", "email", "role", "csrf_token"}
    assert reply.body["user_id"] == user.user_id
    assert reply.body["role"] == "customer"
    session, renewal = browser.last_cookies["shop_session"], browser.last_cookies["shop_renewal"]
    assert session["httponly"]
    assert renewal["httponly"]
    assert (session["samesite"], session["path"]) == ("Lax", "/")
    assert (renewal["samesite"], renewal["path"]) == ("Strict", "/api/auth/session")
    assert not session["secure"]  # plain http (local): see the over-https test
    assert 0 < int(session["max-age"]) <= 900 < int(renewal["max-age"])
    # The session answers for the user on the documented routes, and after a reload.
    me = await browser.call("GET", "/api/auth/me/")
    assert me.body == {"user_id": user.user_id, "email": user.email}
    again = await browser.call("GET", "/api/auth/session/")
    assert again.body == reply.body
    wrong = await browser.call(
        "POST", "/api/auth/session/", {"email": user.email, "password": "wrong password"}
    )
    assert_error(wrong, 401)


async def test_over_https_the_cookies_are_secure_and_host_prefixed(platform: Platform, user: User) -> None:
    app = create_app(gateway_settings(platform, forwarded_hops=1))
    async with TestClient(TestServer(app), cookie_jar=aiohttp.DummyCookieJar()) as client:
        browser = Browser(Api(client))
        https = {"X-Forwarded-Proto": "https"}
        reply = await browser.call(
            "POST", "/api/auth/session/", {"email": user.email, "password": user.password}, headers=https
        )
        assert reply.status == 201, reply
        session, renewal = (
            browser.last_cookies["__Host-shop_session"],
            browser.last_cookies["__Secure-shop_renewal"],
        )
        assert session["secure"]
        assert renewal["secure"]
        assert (await browser.call("GET", "/api/auth/session/", headers=https)).status == 200
        # Over https an unprefixed cookie (which a subdomain could have planted) is not read.
        planted = {**https, "Cookie": f"shop_session={browser.jar['__Host-shop_session']}"}
        assert_error(await Browser(Api(client)).call("GET", "/api/auth/session/", headers=planted), 401)


async def test_state_changes_with_the_cookie_need_the_csrf_token_and_this_origin(
    plain: Api, admin: User, user: User
) -> None:
    product_id = await new_product(plain, admin)
    browser = _browser(plain)
    await browser.sign_in(user)
    csrf, browser.csrf = browser.csrf, ""
    add = {"product_id": product_id, "quantity": 1}
    assert_error(await browser.call("POST", "/api/cart/", add), 403, mentions=CSRF_MISSING)
    wrong = {"X-CSRF-Token": "x" + csrf}
    assert_error(await browser.call("POST", "/api/cart/", add, headers=wrong), 403, mentions=CSRF_MISSING)
    browser.csrf = csrf
    foreign = {"Origin": "https://evil.example"}
    assert_error(await browser.call("POST", "/api/cart/", add, headers=foreign), 403, mentions=CROSS_SITE)
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert_error(await browser.call("POST", "/api/cart/", add, headers=cross), 403, mentions=CROSS_SITE)
    assert (await browser.call("GET", "/api/cart/")).body == {}  # nothing was added
    same = {"Sec-Fetch-Site": "same-origin"}
    assert (await browser.call("POST", "/api/cart/", add, headers=same)).status == 201
    lines = (await browser.call("GET", "/api/cart/")).body
    assert [line["quantity"] for line in lines.values()] == [1]


async def test_bearer_callers_are_unaffected(plain: Api, admin: User, user: User) -> None:
    product_id = await new_product(plain, admin)
    # No CSRF token and a foreign Origin: an API client with a bearer token needs neither.
    headers = {"Origin": "https://evil.example", "Cookie": "shop_session=not-a-token"}
    added = await plain.post(
        "/api/cart/", {"product_id": product_id, "quantity": 2}, token=user.token, headers=headers
    )
    assert added.status == 201, added
    login = await plain.post("/api/auth/login/", {"email": user.email, "password": user.password})
    assert set(login.body) == {"token"}
    assert "Set-Cookie" not in login.headers
    assert_error(await plain.get("/api/cart/"), 401)  # still "Authentication required"


async def test_renewal_rotates_and_a_reused_renewal_cookie_ends_the_session(plain: Api, user: User) -> None:
    browser = _browser(plain)
    await browser.sign_in(user)
    first = dict(browser.jar)
    renewed = await browser.call("POST", "/api/auth/session/refresh")
    assert renewed.status == 200, renewed
    assert renewed.body["csrf_token"] == browser.csrf
    second = dict(browser.jar)
    assert second["shop_renewal"] != first["shop_renewal"]
    assert second["shop_session"] != first["shop_session"]
    stale = Browser(plain, jar=first, origin=browser.origin)
    assert_error(await stale.call("GET", "/api/auth/session/"), 401)  # the replaced access token
    # Presented again at once: another tab renewing concurrently; retry with the newer cookies.
    assert_error(await stale.call("POST", "/api/auth/session/refresh"), 409)
    assert (await browser.call("POST", "/api/auth/session/refresh")).status == 200
    # Two renewals old: a stolen copy. The session ends for everyone.
    assert_error(await stale.call("POST", "/api/auth/session/refresh"), 401)
    assert_error(await browser.call("GET", "/api/auth/session/"), 401)
    assert_error(await browser.call("POST", "/api/auth/session/refresh"), 401)
    assert_error(await _browser(plain).call("POST", "/api/auth/session/refresh"), 401)  # no cookie


async def test_sign_out_ends_the_session_and_clears_the_cookies(plain: Api, user: User) -> None:
    browser = _browser(plain)
    await browser.sign_in(user)
    kept = dict(browser.jar)
    foreign = await browser.call("DELETE", "/api/auth/session/", headers={"Origin": "https://evil.example"})
    assert_error(foreign, 403, mentions=CROSS_SITE)
    reply = await browser.call("DELETE", "/api/auth/session/")
    assert reply.body == {"message": "Signed out"}
    assert browser.jar == {}
    copy = Browser(plain, jar=kept, origin=browser.origin)
    assert_error(await copy.call("GET", "/api/auth/session/"), 401)
    assert_error(await copy.call("POST", "/api/auth/session/refresh"), 401)


async def test_sign_out_everywhere_ends_the_other_sessions(plain: Api, user: User) -> None:
    here, phone = _browser(plain), _browser(plain)
    await here.sign_in(user)
    await phone.sign_in(user)
    reply = await here.call("POST", "/api/auth/sessions/end-others")
    assert reply.body == {"ended": 1}
    assert (await here.call("GET", "/api/auth/session/")).status == 200
    assert_error(await phone.call("GET", "/api/auth/session/"), 401)
    assert_error(await phone.call("POST", "/api/auth/session/refresh"), 401)


async def test_an_admin_ends_a_users_sessions(plain: Api, admin: User, user: User, other_user: User) -> None:
    browser = _browser(plain)
    await browser.sign_in(user)
    path = f"/api/admin/users/{user.user_id}/sessions"
    assert_error(await plain.delete(path, token=other_user.token), 403)
    assert (await browser.call("GET", "/api/auth/session/")).status == 200
    assert (await plain.delete(path, token=admin.token)).body == {"ended": 1}
    assert_error(await browser.call("GET", "/api/auth/session/"), 401)
    assert_error(await browser.call("POST", "/api/auth/session/refresh"), 401)


async def test_deleting_the_account_ends_its_session(plain: Api, user: User) -> None:
    browser = _browser(plain)
    await browser.sign_in(user)
    assert (await browser.call("DELETE", "/api/auth/me/")).status == 200
    assert_error(await browser.call("GET", "/api/auth/session/"), 401)
    assert_error(await browser.call("POST", "/api/auth/session/refresh"), 401)


async def test_a_guest_cart_merges_into_the_account_at_sign_in(plain: Api, admin: User, user: User) -> None:
    mug, lamp = await new_product(plain, admin), await new_product(plain, admin)
    await plain.post("/api/cart/", {"product_id": mug, "quantity": 1}, token=user.token)
    guest = _browser(plain)
    assert (await guest.call("GET", "/api/guest-cart/")).body == {}
    assert_error(await guest.call("GET", "/api/cart/"), 401)  # the documented cart still needs a token
    for product, quantity in ((mug, 2), (lamp, 1)):
        added = await guest.call("POST", "/api/guest-cart/", {"product_id": product, "quantity": quantity})
        assert added.status == 201, added
    cookie = guest.last_cookies.get("shop_guest")
    assert "shop_guest" in guest.jar
    assert cookie is None or cookie["httponly"]
    lines = (await guest.call("GET", "/api/guest-cart/")).body
    assert sorted((line["product_id"], line["quantity"]) for line in lines.values()) == [(mug, 2), (lamp, 1)]
    foreign = await guest.call(
        "POST",
        "/api/guest-cart/",
        {"product_id": lamp, "quantity": 1},
        headers={"Origin": "https://evil.example"},
    )
    assert_error(foreign, 403, mentions=CROSS_SITE)
    await guest.sign_in(user)
    assert "shop_guest" not in guest.jar
    cart = await plain.get("/api/cart/", token=user.token)
    assert sorted((line["product_id"], line["quantity"]) for line in cart.body.values()) == sorted(
        [(mug, 3), (lamp, 1)]
    )
    anonymous_again = Browser(plain, origin=guest.origin)
    assert (await anonymous_again.call("GET", "/api/guest-cart/")).body == {}


async def test_a_malformed_guest_cookie_is_a_clean_answer(plain: Api) -> None:
    guest = _browser(plain)
    guest.jar["shop_guest"] = "../" + uuid4().hex
    assert_error(await guest.call("GET", "/api/guest-cart/"), 400)


async def test_signing_in_again_in_the_same_browser_ends_the_replaced_session(plain: Api, user: User) -> None:
    browser = _browser(plain)
    await browser.sign_in(user)
    replaced = dict(browser.jar)
    await browser.sign_in(user)
    assert browser.jar["shop_session"] != replaced["shop_session"]
    copy = Browser(plain, jar=replaced, origin=browser.origin)
    assert_error(await copy.call("GET", "/api/auth/session/"), 401)
    assert_error(await copy.call("POST", "/api/auth/session/refresh"), 401)
    assert (await browser.call("GET", "/api/auth/session/")).status == 200
