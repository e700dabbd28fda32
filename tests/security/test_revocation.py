"""A token that no longer counts is refused by every service, called over gRPC directly (as an
internal caller or anything that reaches a pod would), not only by the gateway: a logged-out
token, a deleted account's token, and an admin token issued before the admin was demoted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

import grpc
import pytest

from deploy.local.keys import KeyFiles
from services.kit import redis as kit_redis
from services.kit.config import SERVICE_PORTS
from services.kit.errors import DomainError
from services.kit.principal import TokenVerifier
from services.kit.revocation import RevocationList, TokenChecker
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.content.v1 import content_pb2, content_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from shop.profile.v1 import profile_pb2, profile_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

# Every service of the platform, from the one table of them.
SERVICES = tuple(SERVICE_PORTS)
PASSWORD = "a-long-enough-password"
ADMIN = ("admin@shop.test", "admin-password-123")
REVOKED = (grpc.StatusCode.UNAUTHENTICATED, "token has been revoked")

Metadata = tuple[tuple[str, str]]
Probe = Callable[[Metadata], Awaitable[object]]


def _probes(platform: Platform) -> dict[str, Probe]:
    """One call per service, made with the token under test."""
    auth = platform.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    catalog = platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    profile = platform.stub(profile_pb2_grpc.ProfileServiceStub, "profile")
    cart = platform.stub(cart_pb2_grpc.CartServiceStub, "cart")
    inventory = platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")
    orders = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    payments = platform.stub(payments_pb2_grpc.PaymentsServiceStub, "payments")
    shipping = platform.stub(shipping_pb2_grpc.ShippingServiceStub, "shipping")
    reviews = platform.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews")
    activity = platform.stub(activity_pb2_grpc.ActivityServiceStub, "activity")
    content = platform.stub(content_pb2_grpc.ContentServiceStub, "content")
    return {
        "auth": lambda md: auth.GetMe(auth_pb2.GetMeRequest(), metadata=md),
        "catalog": lambda md: catalog.ListProducts(catalog_pb2.ListProductsRequest(page_size=1), metadata=md),
        "profile": lambda md: profile.GetProfile(profile_pb2.GetProfileRequest(), metadata=md),
        "cart": lambda md: cart.GetCart(cart_pb2.GetCartRequest(), metadata=md),
        "inventory": lambda md: inventory.GetStock(inventory_pb2.GetStockRequest(product_id=1), metadata=md),
        "orders": lambda md: orders.ListOrders(orders_pb2.ListOrdersRequest(), metadata=md),
        "payments": lambda md: payments.GetPayment(
            payments_pb2.GetPaymentRequest(id=str(uuid4())), metadata=md
        ),
        "shipping": lambda md: shipping.ListShipments(shipping_pb2.ListShipmentsRequest(), metadata=md),
        "reviews": lambda md: reviews.ListReviews(reviews_pb2.ListReviewsRequest(product_id=1), metadata=md),
        "activity": lambda md: activity.ListRecentlyViewed(
            activity_pb2.ListRecentlyViewedRequest(), metadata=md
        ),
        "content": lambda md: content.ListPosts(content_pb2.ListPostsRequest(), metadata=md),
    }


async def _outcome(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def _everywhere(platform: Platform, token: str) -> dict[str, tuple[grpc.StatusCode, str]]:
    md = bearer(token)
    return {name: await _outcome(probe(md)) for name, probe in _probes(platform).items()}


def _accepted(outcomes: dict[str, tuple[grpc.StatusCode, str]]) -> bool:
    return all(code != grpc.StatusCode.UNAUTHENTICATED for code, _ in outcomes.values())


@pytest.fixture(scope="module")
async def shop(platform: Platform) -> Platform:
    for name in SERVICES:
        await platform.start(name)
    return platform


async def _login(platform: Platform, email: str, password: str = PASSWORD) -> str:
    auth = platform.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    reply = await auth.Login(auth_pb2.LoginRequest(email=email, password=password))
    token: str = reply.token
    return token


async def _customer(platform: Platform) -> tuple[int, str, str]:
    """A registered customer signed in: (id, email, token), its token already used everywhere once
    (so every service has had the chance to cache it as valid)."""
    auth = platform.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    email = f"rev-{uuid4().hex[:12]}@shop.test"
    user = await auth.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    token = await _login(platform, email)
    assert _accepted(await _everywhere(platform, token))
    return user.user.id, email, token


async def test_a_logged_out_token_is_refused_by_every_service(shop: Platform) -> None:
    _, _, token = await _customer(shop)
    auth = shop.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    await auth.Logout(auth_pb2.LogoutRequest(), metadata=bearer(token))

    assert await _everywhere(shop, token) == dict.fromkeys(SERVICES, REVOKED)


async def test_a_deleted_accounts_token_is_refused_by_every_service(shop: Platform) -> None:
    _, _, token = await _customer(shop)
    other_device = await _login(shop, (await _me(shop, token)).email)
    auth = shop.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    await auth.DeleteUser(auth_pb2.DeleteUserRequest(), metadata=bearer(token))

    assert await _everywhere(shop, token) == dict.fromkeys(SERVICES, REVOKED)
    assert await _everywhere(shop, other_device) == dict.fromkeys(SERVICES, REVOKED)


async def _me(platform: Platform, token: str) -> auth_pb2.User:
    auth = platform.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    reply = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token))
    user: auth_pb2.User = reply.user
    return user


async def _create_product(platform: Platform, token: str) -> tuple[grpc.StatusCode, str]:
    catalog = platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    request = catalog_pb2.CreateProductRequest(
        name=f"Lamp {uuid4().hex[:6]}", price=common_pb2.Money(amount_minor=500, currency="USD")
    )
    return await _outcome(catalog.CreateProduct(request, metadata=bearer(token)))


async def _set_role(platform: Platform, user_id: int, role: auth_pb2.Role.ValueType) -> None:
    auth = platform.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    boss = await _login(platform, *ADMIN)
    await auth.SetUserRole(auth_pb2.SetUserRoleRequest(id=user_id, role=role), metadata=bearer(boss))


async def test_a_demoted_admins_token_stops_working_at_once(shop: Platform) -> None:
    user_id, email, _ = await _customer(shop)
    await _set_role(shop, user_id, auth_pb2.ROLE_ADMIN)
    admin_token = await _login(shop, email)
    assert (await _create_product(shop, admin_token))[0] == grpc.StatusCode.OK
    assert _accepted(await _everywhere(shop, admin_token))

    await _set_role(shop, user_id, auth_pb2.ROLE_CUSTOMER)

    # The admin token carries the old role: refused everywhere, admin calls included.
    assert await _create_product(shop, admin_token) == REVOKED
    assert await _everywhere(shop, admin_token) == dict.fromkeys(SERVICES, REVOKED)
    # Signing in again gives a customer's token, which works but not for admin calls.
    customer_token = await _login(shop, email)
    assert _accepted(await _everywhere(shop, customer_token))
    assert (await _create_product(shop, customer_token))[0] == grpc.StatusCode.PERMISSION_DENIED


async def test_a_role_set_to_what_it_was_keeps_the_users_tokens(shop: Platform) -> None:
    user_id, _, token = await _customer(shop)
    await _set_role(shop, user_id, auth_pb2.ROLE_CUSTOMER)
    assert _accepted(await _everywhere(shop, token))


async def test_a_revocation_whose_announcement_is_lost_counts_once_the_cache_expires(
    redis_url: str, keys: KeyFiles, tokens: TokenFactory
) -> None:
    client = kit_redis.connect(redis_url)
    prefix = f"test-revocation-{uuid4().hex[:8]}:"
    checker = TokenChecker(TokenVerifier(keys.public_key.read_bytes()), RevocationList(client, prefix), 0.5)
    listener = asyncio.create_task(checker.listen())
    try:
        deadline = time.monotonic() + 5
        while not checker.subscribed:
            assert time.monotonic() < deadline, "never subscribed"
            await asyncio.sleep(0.01)
        token = tokens.customer(9_100_001)
        who = await checker.check(token)
        # Written behind the channel's back: the cached answer stands, but only for cache_seconds.
        await client.set(f"{prefix}auth:revoked:{who.token_id}", "1", ex=60)
        assert (await checker.check(token)).user_id == 9_100_001
        await asyncio.sleep(0.6)
        with pytest.raises(DomainError, match="token has been revoked"):
            await checker.check(token)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await client.delete(f"{prefix}auth:revoked:{who.token_id}")
        await client.aclose()
