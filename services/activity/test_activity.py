from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually
from tests.support.tokens import TokenFactory, bearer

VIEWED = activity_pb2.EVENT_TYPE_PRODUCT_VIEWED
SEARCHED = activity_pb2.EVENT_TYPE_SEARCHED
CART_ADDED = activity_pb2.EVENT_TYPE_CART_ADDED
ORDERED = activity_pb2.EVENT_TYPE_ORDER_PLACED


def new_id() -> int:
    return random.randint(10**12, 10**15)


def stamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


@pytest.fixture
async def activity(platform: Platform) -> activity_pb2_grpc.ActivityServiceStub:
    await platform.start("activity")
    return platform.stub(activity_pb2_grpc.ActivityServiceStub, "activity")


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[aioredis.Redis]:
    client = kit_redis.connect(platform.redis_url)
    yield client
    await client.aclose()


async def record(
    stub: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory, *events: activity_pb2.Event
) -> int:
    reply = await stub.RecordEvents(
        activity_pb2.RecordEventsRequest(events=list(events)), metadata=bearer(tokens.service("gateway"))
    )
    recorded: int = reply.recorded
    return recorded


def view(user: int, product: int, at: datetime | None = None) -> activity_pb2.Event:
    event = activity_pb2.Event(type=VIEWED, user_id=user, product_id=product)
    if at is not None:
        event.occur_time.CopyFrom(stamp(at))
    return event


async def test_record_and_list_user_events_newest_first_with_pages(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    user, product = new_id(), new_id()
    base = datetime.now(UTC) - timedelta(hours=1)
    events = [view(user, product + i, base + timedelta(minutes=i)) for i in range(5)]
    events.append(
        activity_pb2.Event(type=SEARCHED, user_id=user, query=" kettle ", attributes={"results": "3"})
    )
    assert await record(activity, tokens, *events) == 6

    seen: list[activity_pb2.Event] = []
    token = ""
    while True:
        page = await activity.ListUserEvents(
            activity_pb2.ListUserEventsRequest(page_size=2, page_token=token),
            metadata=bearer(tokens.customer(user)),
        )
        assert len(page.events) <= 2
        seen += page.events
        token = page.next_page_token
        if not token:
            break
    assert [e.type for e in seen] == [SEARCHED, VIEWED, VIEWED, VIEWED, VIEWED, VIEWED]
    assert seen[0].query == "kettle"
    assert dict(seen[0].attributes) == {"results": "3"}
    assert [e.product_id for e in seen[1:]] == [product + i for i in reversed(range(5))]
    assert len({e.id for e in seen}) == 6

    only_views = await activity.ListUserEvents(
        activity_pb2.ListUserEventsRequest(types=[SEARCHED]), metadata=bearer(tokens.customer(user))
    )
    assert [e.type for e in only_views.events] == [SEARCHED]


async def test_user_events_are_private(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    user = new_id()
    await record(activity, tokens, view(user, new_id()))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await activity.ListUserEvents(
            activity_pb2.ListUserEventsRequest(user_id=user), metadata=bearer(tokens.customer(new_id()))
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await activity.ListRecentlyViewed(activity_pb2.ListRecentlyViewedRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    by_admin = await activity.ListUserEvents(
        activity_pb2.ListUserEventsRequest(user_id=user), metadata=bearer(tokens.admin())
    )
    assert len(by_admin.events) == 1


async def test_record_events_needs_a_service_and_valid_events(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await activity.RecordEvents(
            activity_pb2.RecordEventsRequest(events=[view(1, new_id())]),
            metadata=bearer(tokens.customer(9_000_001)),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    user = new_id()
    bad = [
        activity_pb2.Event(type=activity_pb2.EVENT_TYPE_UNSPECIFIED, user_id=user, product_id=new_id()),
        activity_pb2.Event(type=VIEWED, user_id=user),
        activity_pb2.Event(type=SEARCHED, user_id=user, query="  "),
        activity_pb2.Event(type=CART_ADDED, user_id=user, product_id=new_id(), quantity=-1),
        activity_pb2.Event(type=VIEWED, user_id=-1, product_id=new_id()),
    ]
    for event in bad:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            # A bad event fails the whole batch: the good one before it is not stored either.
            await record(activity, tokens, view(user, new_id()), event)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await activity.ListUserEvents(
        activity_pb2.ListUserEventsRequest(user_id=user), metadata=bearer(tokens.admin())
    )
    assert list(listed.events) == []


async def test_recently_viewed_lists_each_product_once_at_its_last_view(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    user, a, b, c = new_id(), new_id(), new_id(), new_id()
    base = datetime.now(UTC) - timedelta(hours=1)
    await record(
        activity,
        tokens,
        view(user, a, base),
        view(user, b, base + timedelta(minutes=1)),
        view(user, a, base + timedelta(minutes=2)),
        view(user, c, base + timedelta(minutes=3)),
        activity_pb2.Event(type=CART_ADDED, user_id=user, product_id=new_id(), quantity=1),
    )
    first = await activity.ListRecentlyViewed(
        activity_pb2.ListRecentlyViewedRequest(page_size=2), metadata=bearer(tokens.customer(user))
    )
    assert [p.product_id for p in first.products] == [c, a]
    assert first.products[1].view_time.ToDatetime(tzinfo=UTC) == base + timedelta(minutes=2)
    rest = await activity.ListRecentlyViewed(
        activity_pb2.ListRecentlyViewedRequest(page_size=2, page_token=first.next_page_token),
        metadata=bearer(tokens.customer(user)),
    )
    assert [p.product_id for p in rest.products] == [b]
    assert rest.next_page_token == ""
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await activity.ListRecentlyViewed(
            activity_pb2.ListRecentlyViewedRequest(page_token="garbage"),
            metadata=bearer(tokens.customer(user)),
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_popular_products_counts_one_type_in_a_window(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    hot, warm, old = new_id(), new_id(), new_id()
    # A window of its own in the past, so other tests' events do not count.
    start = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=random.randint(0, 10**8))
    inside = start + timedelta(hours=1)
    events = [view(new_id(), hot, inside) for _ in range(3)]
    events += [view(new_id(), warm, inside) for _ in range(2)]
    events += [view(new_id(), old, start - timedelta(minutes=1)) for _ in range(5)]
    cart = activity_pb2.Event(type=CART_ADDED, user_id=new_id(), product_id=warm, quantity=2)
    cart.occur_time.CopyFrom(stamp(inside))
    events += [cart, cart, cart]
    await record(activity, tokens, *events)
    begin, end = stamp(start), stamp(start + timedelta(days=1))

    views = await activity.ListPopularProducts(
        activity_pb2.ListPopularProductsRequest(type=VIEWED, start_time=begin, end_time=end)
    )
    assert [(p.product_id, p.count) for p in views.products] == [(hot, 3), (warm, 2)]
    every = await activity.ListPopularProducts(
        activity_pb2.ListPopularProductsRequest(page_size=1, start_time=begin, end_time=end)
    )
    assert [(p.product_id, p.count) for p in every.products] == [(warm, 5)]
    second = await activity.ListPopularProducts(
        activity_pb2.ListPopularProductsRequest(
            page_size=1, page_token=every.next_page_token, start_time=begin, end_time=end
        )
    )
    assert [(p.product_id, p.count) for p in second.products] == [(hot, 3)]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await activity.ListPopularProducts(
            activity_pb2.ListPopularProductsRequest(start_time=end, end_time=begin)
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_recommendations_rank_by_co_occurrence_without_the_product(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    target, often, sometimes, unrelated = new_id(), new_id(), new_id(), new_id()
    u1, u2, u3, stranger = new_id(), new_id(), new_id(), new_id()
    await record(
        activity,
        tokens,
        *[view(u, target) for u in (u1, u2, u3)],
        view(u1, target),  # a second view by the same user counts once
        *[view(u, often) for u in (u1, u2, u3)],
        view(u1, sometimes),
        view(stranger, unrelated),
        view(0, often),  # anonymous views never relate products
        *[activity_pb2.Event(type=ORDERED, user_id=u, product_id=target, quantity=1) for u in (u1, u2)],
        activity_pb2.Event(type=ORDERED, user_id=u2, product_id=sometimes, quantity=1),
    )
    viewed = await activity.GetRecommendations(
        activity_pb2.GetRecommendationsRequest(
            product_id=target, kind=activity_pb2.RECOMMENDATION_KIND_ALSO_VIEWED
        )
    )
    assert [(p.product_id, p.score) for p in viewed.products] == [(often, 3.0), (sometimes, 1.0)]
    bought = await activity.GetRecommendations(
        activity_pb2.GetRecommendationsRequest(
            product_id=target, kind=activity_pb2.RECOMMENDATION_KIND_ALSO_BOUGHT
        )
    )
    assert [p.product_id for p in bought.products] == [sometimes]
    limited = await activity.GetRecommendations(
        activity_pb2.GetRecommendationsRequest(
            product_id=target, kind=activity_pb2.RECOMMENDATION_KIND_ALSO_VIEWED, limit=1
        )
    )
    assert [p.product_id for p in limited.products] == [often]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await activity.GetRecommendations(activity_pb2.GetRecommendationsRequest(product_id=target))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_delete_user_events_is_internal_and_forgets_the_user(
    activity: activity_pb2_grpc.ActivityServiceStub, tokens: TokenFactory
) -> None:
    user, other = new_id(), new_id()
    await record(activity, tokens, view(user, new_id()), view(user, new_id()), view(other, new_id()))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await activity.DeleteUserEvents(
            activity_pb2.DeleteUserEventsRequest(user_id=user), metadata=bearer(tokens.customer(user))
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reply = await activity.DeleteUserEvents(
        activity_pb2.DeleteUserEventsRequest(user_id=user), metadata=bearer(tokens.service("auth"))
    )
    assert reply.deleted == 2
    left = await activity.ListUserEvents(
        activity_pb2.ListUserEventsRequest(user_id=other), metadata=bearer(tokens.admin())
    )
    assert len(left.events) == 1


async def test_stream_entries_are_stored_once_and_malformed_ones_skipped(
    activity: activity_pb2_grpc.ActivityServiceStub,
    tokens: TokenFactory,
    platform: Platform,
    redis: aioredis.Redis,
) -> None:
    user, product = new_id(), new_id()
    key = stream.stream_key(platform.redis_prefix)
    await redis.xadd(key, {"t": "no-such-type"})
    for _ in range(3):
        await redis.xadd(key, stream.StreamEvent(type=VIEWED, user_id=user, product_id=product).fields())

    async def stored() -> bool:
        reply = await activity.ListUserEvents(
            activity_pb2.ListUserEventsRequest(user_id=user), metadata=bearer(tokens.admin())
        )
        return len(reply.events) == 3

    await eventually(stored)
    pending = await redis.xpending(key, stream.GROUP)
    assert pending["pending"] == 0


async def test_restart_reclaims_entries_a_crashed_consumer_never_acknowledged(
    platform: Platform, tokens: TokenFactory, redis: aioredis.Redis
) -> None:
    await platform.start("activity")
    await platform.stop("activity")
    key = stream.stream_key(platform.redis_prefix)
    user, products = new_id(), {new_id() for _ in range(4)}
    for product_id in products:
        await redis.xadd(key, stream.StreamEvent(type=VIEWED, user_id=user, product_id=product_id).fields())
    # A consumer of another replica reads them and dies before acknowledging.
    delivered: Any = await redis.xreadgroup(stream.GROUP, "crashed-replica", {key: ">"}, count=1000)
    assert len(delivered[0][1]) >= 4
    await platform.start("activity", stream_claim_idle_seconds=0)
    stub = platform.stub(activity_pb2_grpc.ActivityServiceStub, "activity")

    async def stored() -> bool:
        reply = await stub.ListRecentlyViewed(
            activity_pb2.ListRecentlyViewedRequest(user_id=user), metadata=bearer(tokens.admin())
        )
        return {p.product_id for p in reply.products} == products

    try:
        await eventually(stored)
        pending = await redis.xpending_range(
            key, stream.GROUP, min="-", max="+", count=100, consumername="crashed-replica"
        )
        assert pending == []
    finally:
        # Back to the default settings for the other tests.
        await platform.stop("activity")
        await platform.start("activity")


async def test_events_older_than_the_retention_are_purged(platform: Platform, tokens: TokenFactory) -> None:
    await platform.stop("activity")
    await platform.start("activity", retention_days=30, purge_interval_seconds=0.05)
    stub = platform.stub(activity_pb2_grpc.ActivityServiceStub, "activity")
    user, old, recent = new_id(), new_id(), new_id()
    now = datetime.now(UTC)
    try:
        await record(stub, tokens, view(user, old, now - timedelta(days=31)), view(user, recent, now))

        async def purged() -> bool:
            reply = await stub.ListUserEvents(
                activity_pb2.ListUserEventsRequest(user_id=user), metadata=bearer(tokens.admin())
            )
            return [e.product_id for e in reply.events] == [recent]

        await eventually(purged)
    finally:
        await platform.stop("activity")
        await platform.start("activity")
