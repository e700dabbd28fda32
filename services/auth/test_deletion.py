"""Account deletion across services, through real gRPC: DeleteUser records what every other service
must forget in auth's outbox, and auth's background worker has each service forget the person,
retrying a service that is down until it is back, without ever holding up DeleteUser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import grpc
import pytest

from services.auth.domain import retry_delay
from services.auth.service import MIGRATIONS
from services.auth.store import DeletionStepRow, DeletionSteps, UserRole, UserStore
from services.kit import timestamps
from services.kit.database import Database
from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.profile.v1 import profile_pb2, profile_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.tokens import TokenFactory, bearer

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "delete-me-please"
# Every service holding personal data, as far as it exists in this tree yet.
SERVICES = ("auth", "catalog", "cart", "reviews", "profile", "orders", "shipping", "payments")

T = TypeVar("T")


def activity_is_built() -> bool:
    """The activity service is being written alongside; its step is only checked once it can run."""
    source = REPO / "services" / "activity" / "service.py"
    return source.is_file() and "def build(" in source.read_text()


@dataclass
class Shop:
    platform: Platform
    tokens: TokenFactory
    steps: DeletionSteps

    def stub(self, stub_class: Callable[[grpc.aio.Channel], T], name: str) -> T:
        return self.platform.stub(stub_class, name)

    @property
    def auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return self.stub(auth_pb2_grpc.AuthServiceStub, "auth")

    @property
    def service(self) -> tuple[tuple[str, str]]:
        return bearer(self.tokens.service("test"))

    @property
    def admin(self) -> tuple[tuple[str, str]]:
        return bearer(self.tokens.admin())

    async def user(self) -> tuple[int, str, str]:
        """A registered customer: (id, email, token)."""
        email = f"del-{uuid4().hex[:16]}@shop.test"
        reply = await self.auth.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
        login = await self.auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
        return reply.user.id, email, login.token

    async def product(self) -> int:
        reply = await self.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog").CreateProduct(
            catalog_pb2.CreateProductRequest(
                name=f"Kettle {uuid4().hex[:6]}", price=common_pb2.Money(amount_minor=999, currency="USD")
            ),
            metadata=self.admin,
        )
        product_id: int = reply.product.id
        return product_id

    async def leave_traces(self, user_id: int, token: str, product_id: int) -> None:
        """Data of the user in cart, reviews and profile (and activity when it exists)."""
        md = bearer(token)
        await self.stub(cart_pb2_grpc.CartServiceStub, "cart").AddItem(
            cart_pb2.AddItemRequest(product_id=product_id, quantity=2), metadata=md
        )
        await self.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews").CreateReview(
            reviews_pb2.CreateReviewRequest(product_id=product_id, rating=4, comment="mine"), metadata=md
        )
        profile = self.stub(profile_pb2_grpc.ProfileServiceStub, "profile")
        await profile.UpdateProfile(profile_pb2.UpdateProfileRequest(display_name="Soon gone"), metadata=md)
        await profile.CreateAddress(
            profile_pb2.CreateAddressRequest(
                address=common_pb2.Address(line1="1 Main St", city="Town", postal_code="1000", country="BE")
            ),
            metadata=md,
        )
        if activity_is_built():
            from shop.activity.v1 import activity_pb2, activity_pb2_grpc

            await self.stub(activity_pb2_grpc.ActivityServiceStub, "activity").RecordEvents(
                activity_pb2.RecordEventsRequest(
                    events=[
                        activity_pb2.Event(
                            type=activity_pb2.EVENT_TYPE_PRODUCT_VIEWED,
                            user_id=user_id,
                            product_id=product_id,
                        )
                    ]
                ),
                metadata=self.service,
            )

    async def traces(self, user_id: int, email: str, product_id: int) -> dict[str, bool]:
        """Which services still hold data of the user."""
        cart = await self.stub(cart_pb2_grpc.CartServiceStub, "cart").GetCart(
            cart_pb2.GetCartRequest(user_id=user_id), metadata=self.service
        )
        reviews = await self.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews").ListReviews(
            reviews_pb2.ListReviewsRequest(product_id=product_id)
        )
        profile = self.stub(profile_pb2_grpc.ProfileServiceStub, "profile")
        addresses = await profile.ListAddresses(
            profile_pb2.ListAddressesRequest(user_id=user_id), metadata=self.service
        )
        found = await profile.SearchProfiles(
            profile_pb2.SearchProfilesRequest(query=email), metadata=self.admin
        )
        traces = {
            "cart": bool(cart.cart.items),
            "reviews": any(r.user_id == user_id for r in reviews.reviews),
            "profile": bool(addresses.addresses) or bool(found.profiles),
        }
        if activity_is_built():
            from shop.activity.v1 import activity_pb2, activity_pb2_grpc

            events = await self.stub(activity_pb2_grpc.ActivityServiceStub, "activity").ListUserEvents(
                activity_pb2.ListUserEventsRequest(user_id=user_id), metadata=self.admin
            )
            traces["activity"] = bool(events.events)
        return traces

    async def delete(self, token: str) -> float:
        """Deletes the token's own account; how long DeleteUser took."""
        started = time.monotonic()
        await self.auth.DeleteUser(auth_pb2.DeleteUserRequest(), metadata=bearer(token))
        return time.monotonic() - started

    async def step_states(self, user_id: int) -> dict[str, DeletionStepRow]:
        return {step.target: step for step in await self.steps.of_user(user_id)}


@pytest.fixture
async def shop(platform: Platform, tokens: TokenFactory) -> AsyncIterator[Shop]:
    for name in (*SERVICES, "activity") if activity_is_built() else SERVICES:
        await platform.start(name)
        # Earlier tests may have met these services down: wait out the shared reconnect backoff.
        await asyncio.wait_for(platform.channel(name).channel_ready(), timeout=10)
    db = Database(platform.settings("auth").resolved_database_url())
    try:
        yield Shop(platform, tokens, DeletionSteps(db))
    finally:
        await db.close()


async def _restart(platform: Platform, name: str) -> None:
    await platform.start(name)
    await asyncio.wait_for(platform.channel(name).channel_ready(), timeout=10)


async def test_deleting_an_account_forgets_the_person_everywhere(shop: Shop) -> None:
    user_id, email, token = await shop.user()
    product_id = await shop.product()
    await shop.leave_traces(user_id, token, product_id)
    assert all((await shop.traces(user_id, email, product_id)).values())

    assert await shop.delete(token) < 2
    await eventually(lambda: shop.traces(user_id, email, product_id), lambda t: not any(t.values()))

    # Every step done: the deletion is complete and its outbox rows are gone too.
    await eventually(lambda: shop.step_states(user_id), lambda s: s == {})

    # The account is gone and none of its tokens work any more.
    err = await _status(shop.auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD)))
    assert err == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(shop.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token)))
    assert err == grpc.StatusCode.UNAUTHENTICATED


async def test_services_down_at_deletion_forget_once_they_are_back(shop: Shop, platform: Platform) -> None:
    user_id, email, token = await shop.user()
    product_id = await shop.product()
    await shop.leave_traces(user_id, token, product_id)

    await platform.stop("reviews")
    await platform.stop("profile")
    try:
        # Deleting the account does not wait for the services that are down.
        assert await shop.delete(token) < 2
        states = await eventually(
            lambda: shop.step_states(user_id),
            lambda s: (
                s["cart"].done_at is not None and s["reviews"].attempts >= 1 and s["profile"].attempts >= 1
            ),
        )
        assert states["reviews"].done_at is None
        assert "UNAVAILABLE" in states["reviews"].last_error
        assert states["profile"].done_at is None
    finally:
        await _restart(platform, "reviews")
        await _restart(platform, "profile")

    await eventually(lambda: shop.step_states(user_id), lambda s: s == {})
    assert not any((await shop.traces(user_id, email, product_id)).values())


async def test_customers_cannot_delete_others_and_nothing_is_recorded(shop: Shop) -> None:
    me, _, token = await shop.user()
    other, _, _ = await shop.user()
    err = await _status(shop.auth.DeleteUser(auth_pb2.DeleteUserRequest(id=other), metadata=bearer(token)))
    assert err == grpc.StatusCode.PERMISSION_DENIED
    assert await shop.steps.of_user(other) == []
    err = await _status(shop.auth.DeleteUser(auth_pb2.DeleteUserRequest(id=10**12), metadata=shop.admin))
    assert err == grpc.StatusCode.NOT_FOUND
    assert await shop.steps.of_user(10**12) == []
    # A service token cannot delete accounts.
    err = await _status(shop.auth.DeleteUser(auth_pb2.DeleteUserRequest(id=me), metadata=shop.service))
    assert err == grpc.StatusCode.PERMISSION_DENIED


async def test_admins_delete_accounts_and_their_tokens_stop_working(shop: Shop) -> None:
    user_id, email, token = await shop.user()
    admin_token = (
        await shop.auth.Login(
            auth_pb2.LoginRequest(
                email=str(shop.platform.env()["admin_email"]),
                password=str(shop.platform.env()["admin_password"]),
            )
        )
    ).token
    await shop.auth.DeleteUser(auth_pb2.DeleteUserRequest(id=user_id), metadata=bearer(admin_token))
    err = await _status(shop.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token)))
    assert err == grpc.StatusCode.UNAUTHENTICATED
    # The admin's own token is untouched.
    me = await shop.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(admin_token))
    assert me.user.email == shop.platform.env()["admin_email"]
    # Every service forgets the person, then the outbox forgets the deletion.
    await eventually(lambda: shop.step_states(user_id), lambda s: s == {})
    del email


async def test_a_step_is_claimed_by_one_worker_at_a_time(tmp_path: Path) -> None:
    # A database of its own, where no worker runs: two replicas racing for the same due step.
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/auth.db")
    try:
        await db.migrate("auth", MIGRATIONS)
        users = UserStore(db)
        user = await users.create("claim@shop.test", "hash", UserRole.CUSTOMER)
        assert user is not None
        assert await users.delete(user.id, ["profile", "cart"])
        assert not await users.delete(user.id, ["profile", "cart"])
        steps = DeletionSteps(db)
        now = timestamps.now()
        due = await steps.due(now, 10)
        assert [(s.user_id, s.target, s.attempts) for s in due] == [
            (user.id, "profile", 0),
            (user.id, "cart", 0),
        ]
        until = now + timedelta(seconds=30)
        claims = await asyncio.gather(*(steps.claim(due[0].id, now, until) for _ in range(4)))
        assert sorted(claims) == [False, False, False, True]
        # Claimed: no longer due for anyone until the claim runs out.
        assert [s.target for s in await steps.due(now, 10)] == ["cart"]
        await steps.retry_at(due[1].id, now + timedelta(seconds=5), "UNAVAILABLE: down")
        assert await steps.due(now, 10) == []
        [later] = await steps.due(now + timedelta(seconds=5), 10)
        assert (later.attempts, later.last_error) == (1, "UNAVAILABLE: down")
        await steps.finish(later.id)
        # Done steps never come back; the claimed one does once its claim has run out.
        assert [s.target for s in await steps.due(now + timedelta(days=1), 10)] == ["profile"]
    finally:
        await db.close()


def test_retry_delays_double_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 60.0) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000, 1.0, 300.0) == 300.0
    assert 0.5 <= retry_delay(0, 1.0, 60.0, jitter=0.99) < 1.0


async def _status(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    code: grpc.StatusCode = err.value.code()
    return code
