"""Account deletion across services: the worker that empties auth's outbox of deletion steps.

DeleteUser removes the user row and records, in the same transaction, one `deletion_steps` row per
service holding the person's data (`FORGET_TARGETS`). The `Forgetter` runs in the auth process: it
calls each service's forget RPC with auth's own service token, marks the step done when it answers,
and otherwise retries with exponential backoff. Once every step of a user is done the deletion is
complete (reported in the log) and the user's steps are deleted too. A service that is down, or not
deployed yet, keeps its steps pending; the user-facing DeleteUser never waits for any of them. Every
forget RPC is idempotent, so a step that runs twice (a crash between the call and the mark) does no
harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.kit import timestamps
from services.kit.clients import CHANNEL_OPTIONS as KIT_CHANNEL_OPTIONS
from services.kit.clients import Metadata, ServiceToken
from services.kit.config import CommonSettings
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from shop.profile.v1 import profile_pb2, profile_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc

from .domain import retry_delay
from .store import DeletionStepRow, DeletionSteps

log = logging.getLogger("shop.auth.forget")

# Every service that keeps data about a person, in the order their steps are recorded.
FORGET_TARGETS = ("profile", "cart", "reviews", "orders", "shipping", "payments", "activity")
BATCH = 100

# One forget call: (user id, metadata, timeout) -> done when the service answered OK.
Forget = Callable[[int, Metadata, float], Awaitable[object]]


# The worker's own connections: a local subchannel pool, so its attempts against a service that is
# down never leave a shared connection in reconnect backoff for other clients in the same process
# (the in-process test platform, where every service and the gateway share one gRPC runtime).
CHANNEL_OPTIONS = [*KIT_CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]


def forget_channels(settings: CommonSettings) -> dict[str, grpc.aio.Channel]:
    return {
        target: grpc.aio.insecure_channel(
            settings.address_of(target),
            interceptors=aio_client_interceptors(),  # type: ignore[no-untyped-call]
            options=CHANNEL_OPTIONS,
        )
        for target in FORGET_TARGETS
    }


def forget_calls(channels: Mapping[str, grpc.aio.Channel]) -> dict[str, Forget]:
    """The forget RPC of each target service."""
    profile = profile_pb2_grpc.ProfileServiceStub(channels["profile"])
    cart = cart_pb2_grpc.CartServiceStub(channels["cart"])
    reviews = reviews_pb2_grpc.ReviewsServiceStub(channels["reviews"])
    orders = orders_pb2_grpc.OrdersServiceStub(channels["orders"])
    activity = activity_pb2_grpc.ActivityServiceStub(channels["activity"])
    shipping = shipping_pb2_grpc.ShippingServiceStub(channels["shipping"])
    payments = payments_pb2_grpc.PaymentsServiceStub(channels["payments"])
    return {
        "profile": lambda user_id, md, timeout: profile.DeleteUserData(
            profile_pb2.DeleteUserDataRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "cart": lambda user_id, md, timeout: cart.DeleteUserCart(
            cart_pb2.DeleteUserCartRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "reviews": lambda user_id, md, timeout: reviews.DeleteUserReviews(
            reviews_pb2.DeleteUserReviewsRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "orders": lambda user_id, md, timeout: orders.AnonymizeUserOrders(
            orders_pb2.AnonymizeUserOrdersRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "shipping": lambda user_id, md, timeout: shipping.AnonymizeUserShipments(
            shipping_pb2.AnonymizeUserShipmentsRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "payments": lambda user_id, md, timeout: payments.AnonymizeUserPayments(
            payments_pb2.AnonymizeUserPaymentsRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
        "activity": lambda user_id, md, timeout: activity.DeleteUserEvents(
            activity_pb2.DeleteUserEventsRequest(user_id=user_id), metadata=md, timeout=timeout
        ),
    }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details() or ''}"
    return repr(exc)


class Forgetter:
    """Works through the due deletion steps until stopped; `wake()` after recording new ones."""

    def __init__(
        self,
        steps: DeletionSteps,
        calls: Mapping[str, Forget],
        token: ServiceToken,
        *,
        call_timeout: float,
        poll_seconds: float,
        retry_base_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._steps = steps
        self._calls = calls
        self._token = token
        self._call_timeout = call_timeout
        self._poll = poll_seconds
        self._base = retry_base_seconds
        self._max = retry_max_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                full = await self.run_once()
            except Exception:
                log.exception("deletion steps could not be processed")
                full = False
            if not full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                self._wake.clear()

    async def run_once(self) -> bool:
        """Runs every step due now (at most BATCH); True when there may be more due at once."""
        now = timestamps.now()
        due = await self._steps.due(now, BATCH)
        if not due:
            return False
        try:
            metadata = await self._token.metadata()
        except Exception as exc:
            # Not a step's failure: auth may not be serving yet. Try again at the next poll.
            log.warning("no service token for deletion steps", extra={"error": _describe(exc)})
            return False
        # A claimed step is this replica's until a call could have finished, with room to spare.
        until = now + timedelta(seconds=self._call_timeout * 2 + 5)
        claimed = [step for step in due if await self._steps.claim(step.id, now, until)]
        await asyncio.gather(*(self._run_step(step, metadata) for step in claimed))
        return len(due) == BATCH

    async def _run_step(self, step: DeletionStepRow, metadata: Metadata) -> None:
        call = self._calls.get(step.target)
        try:
            if call is None:
                raise LookupError(f"no forget call for {step.target!r}")
            await call(step.user_id, metadata, self._call_timeout)
        except Exception as exc:
            attempts = step.attempts + 1
            delay = retry_delay(attempts - 1, self._base, self._max, random.random())
            error = _describe(exc)
            await self._steps.retry_at(step.id, timestamps.now() + timedelta(seconds=delay), error)
            # A service that is not deployed yet fails every time: say so now and then, not each time.
            level = logging.WARNING if attempts == 1 or attempts % 10 == 0 else logging.INFO
            log.log(
                level,
                "deletion step failed; will retry",
                extra={
                    "user_id": step.user_id,
                    "target": step.target,
                    "attempts": attempts,
                    "retry_in_seconds": round(delay, 2),
                    "error": error,
                },
            )
            return
        complete = await self._steps.finish(step.id)
        log.info("deletion step done", extra={"user_id": step.user_id, "target": step.target})
        if complete:
            log.info("account deletion complete", extra={"user_id": step.user_id})
