"""The activity gRPC servicer and build(): events in (RecordEvents and the Redis stream), and what
follows from them out: a user's events, recently viewed, popular products, recommendations."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import grpc
from pydantic import Field

from services.kit import activity_stream as stream
from services.kit import paging, principal, timestamps
from services.kit.config import ServiceSettings
from services.kit.errors import invalid
from services.kit.lease import Lease, exclusive
from services.kit.server import Registration, Runtime
from shop.activity.v1 import activity_pb2, activity_pb2_grpc

from .consumer import StreamConsumer
from .store import ORDERED, VIEWED, ActivityStore, CountCursor, EventCursor, EventRow, NewEvent, ViewedCursor

log = logging.getLogger("shop.activity")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_BATCH = 500
MAX_QUERY = 200
MAX_ATTRIBUTES = 20
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 500
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_RECOMMENDATIONS = 10
MAX_RECOMMENDATIONS = 100

# Events about one product need its id; a removal from the cart may not know it.
_NEEDS_PRODUCT = frozenset(
    {
        activity_pb2.EVENT_TYPE_PRODUCT_VIEWED,
        activity_pb2.EVENT_TYPE_CART_ADDED,
        activity_pb2.EVENT_TYPE_ORDER_PLACED,
        activity_pb2.EVENT_TYPE_REVIEWED,
    }
)
_KINDS = {
    activity_pb2.RECOMMENDATION_KIND_ALSO_VIEWED: VIEWED,
    activity_pb2.RECOMMENDATION_KIND_ALSO_BOUGHT: ORDERED,
}


class Settings(ServiceSettings):
    # Events older than this are deleted by a periodic purge.
    retention_days: int = Field(default=90, gt=0)
    purge_interval_seconds: float = Field(default=3600.0, gt=0)
    # This replica's consumer name in the stream's group (default: the host name).
    stream_consumer: str = ""
    stream_batch: int = Field(default=500, gt=0, le=10_000)
    # Entries another consumer left unacknowledged this long are taken over.
    stream_claim_idle_seconds: float = Field(default=60.0, ge=0)


def _to_proto(row: EventRow) -> activity_pb2.Event:
    return activity_pb2.Event(
        id=row.id,
        type=row.type,  # type: ignore[arg-type]
        user_id=row.user_id,
        product_id=row.product_id,
        query=row.query,
        quantity=row.quantity,
        occur_time=timestamps.to_proto(row.occurred_at),
        attributes=dict(row.attributes or {}),
    )


def _new_event(event: activity_pb2.Event, at: datetime) -> NewEvent:
    if event.type not in stream.TYPE_NAMES:
        raise invalid(f"unknown event type {event.type}")
    if event.user_id < 0 or event.product_id < 0:
        raise invalid("user_id and product_id must not be negative")
    if event.type in _NEEDS_PRODUCT and event.product_id == 0:
        raise invalid(f"{stream.TYPE_NAMES[event.type]} events need a product_id")
    query = event.query.strip()
    if event.type == activity_pb2.EVENT_TYPE_SEARCHED and not query:
        raise invalid("searched events need a query")
    if len(query) > MAX_QUERY:
        raise invalid(f"query must be at most {MAX_QUERY} characters")
    if event.quantity < 0:
        raise invalid("quantity must not be negative")
    if len(event.attributes) > MAX_ATTRIBUTES:
        raise invalid(f"at most {MAX_ATTRIBUTES} attributes per event")
    for key, value in event.attributes.items():
        if not key or len(key) > MAX_ATTRIBUTE_KEY or len(value) > MAX_ATTRIBUTE_VALUE:
            raise invalid(
                f"attribute keys need 1..{MAX_ATTRIBUTE_KEY} characters, values at most {MAX_ATTRIBUTE_VALUE}"
            )
    occurred = event.occur_time.ToDatetime(tzinfo=at.tzinfo) if event.HasField("occur_time") else at
    return NewEvent(
        type=event.type,
        user_id=event.user_id,
        product_id=event.product_id,
        query=query,
        quantity=event.quantity,
        occurred_at=occurred,
        attributes=dict(event.attributes),
    )


class ActivityServicer(activity_pb2_grpc.ActivityServiceServicer):
    def __init__(self, store: ActivityStore) -> None:
        self._store = store

    async def RecordEvents(
        self, request: activity_pb2.RecordEventsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.RecordEventsResponse:
        principal.require_service()
        if len(request.events) > MAX_BATCH:
            raise invalid(f"at most {MAX_BATCH} events per call")
        at = timestamps.now()
        events = [_new_event(e, at) for e in request.events]
        return activity_pb2.RecordEventsResponse(recorded=await self._store.add(events))

    async def ListUserEvents(
        self, request: activity_pb2.ListUserEventsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.ListUserEventsResponse:
        user_id = principal.acting_user_id(request.user_id)
        size = paging.page_size(request.page_size)
        for t in request.types:
            if t not in stream.TYPE_NAMES:
                raise invalid(f"unknown event type {t}")
        cursor = paging.decode_pair(request.page_token)
        after = EventCursor(stream.from_micros(cursor[0]), cursor[1]) if cursor else None
        rows = await self._store.user_events(user_id, list(request.types), size + 1, after)
        rows, token = paging.split(
            rows, size, lambda r: paging.encode_ints(stream.to_micros(r.occurred_at), r.id)
        )
        return activity_pb2.ListUserEventsResponse(events=[_to_proto(r) for r in rows], next_page_token=token)

    async def ListRecentlyViewed(
        self, request: activity_pb2.ListRecentlyViewedRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.ListRecentlyViewedResponse:
        user_id = principal.acting_user_id(request.user_id)
        size = paging.page_size(request.page_size)
        cursor = paging.decode_pair(request.page_token)
        after = ViewedCursor(stream.from_micros(cursor[0]), cursor[1]) if cursor else None
        rows = await self._store.recently_viewed(user_id, size + 1, after)
        rows, token = paging.split(
            rows, size, lambda r: paging.encode_ints(stream.to_micros(r.viewed_at), r.product_id)
        )
        return activity_pb2.ListRecentlyViewedResponse(
            products=[
                activity_pb2.RecentlyViewedProduct(
                    product_id=r.product_id, view_time=timestamps.to_proto(r.viewed_at)
                )
                for r in rows
            ],
            next_page_token=token,
        )

    async def ListPopularProducts(
        self, request: activity_pb2.ListPopularProductsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.ListPopularProductsResponse:
        if request.type and request.type not in stream.TYPE_NAMES:
            raise invalid(f"unknown event type {request.type}")
        now = timestamps.now()
        end = request.end_time.ToDatetime(tzinfo=now.tzinfo) if request.HasField("end_time") else now
        start = (
            request.start_time.ToDatetime(tzinfo=now.tzinfo)
            if request.HasField("start_time")
            else end - DEFAULT_WINDOW
        )
        if start >= end:
            raise invalid("start_time must be before end_time")
        size = paging.page_size(request.page_size)
        cursor = paging.decode_pair(request.page_token)
        after = CountCursor(cursor[0], cursor[1]) if cursor else None
        rows = await self._store.popular(request.type or None, start, end, size + 1, after)
        rows, token = paging.split(rows, size, lambda r: paging.encode_ints(r.count, r.product_id))
        return activity_pb2.ListPopularProductsResponse(
            products=[activity_pb2.ProductCount(product_id=r.product_id, count=r.count) for r in rows],
            next_page_token=token,
        )

    async def GetRecommendations(
        self, request: activity_pb2.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.GetRecommendationsResponse:
        if request.product_id <= 0:
            raise invalid("product_id is required")
        event_type = _KINDS.get(request.kind)
        if event_type is None:
            raise invalid("kind must be ALSO_VIEWED or ALSO_BOUGHT")
        if request.limit < 0:
            raise invalid("limit must not be negative")
        limit = min(request.limit or DEFAULT_RECOMMENDATIONS, MAX_RECOMMENDATIONS)
        rows = await self._store.related(request.product_id, event_type, limit)
        return activity_pb2.GetRecommendationsResponse(
            products=[activity_pb2.ScoredProduct(product_id=r.product_id, score=float(r.count)) for r in rows]
        )

    async def DeleteUserEvents(
        self, request: activity_pb2.DeleteUserEventsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.DeleteUserEventsResponse:
        principal.require_service_for(request.user_id)
        return activity_pb2.DeleteUserEventsResponse(deleted=await self._store.delete_user(request.user_id))


async def _purge_forever(
    store: ActivityStore, retention: timedelta, interval: float, lease: Lease | None
) -> None:
    """A purge every interval, by whichever replica holds the lease."""
    while True:
        try:
            _, deleted = await exclusive(lease, lambda: store.purge_before(timestamps.now() - retention))
            if deleted:
                log.info("purged old activity events", extra={"deleted": deleted})
        except Exception as exc:
            log.warning("activity purge failed", extra={"error": repr(exc)})
        await asyncio.sleep(interval)


async def build(runtime: Runtime) -> Sequence[Registration]:
    settings = runtime.settings_as(Settings)
    db = await runtime.database(MIGRATIONS)
    store = ActivityStore(db, runtime.tokens.revocations.deleted_users)
    consumer = StreamConsumer(
        runtime.redis(),
        store,
        stream.stream_key(settings.redis_prefix),
        settings.stream_consumer or socket.gethostname(),
        batch=settings.stream_batch,
        claim_idle=settings.stream_claim_idle_seconds,
    )
    runtime.background(consumer.run(), "activity-stream-consumer")
    runtime.background(
        _purge_forever(
            store,
            timedelta(days=settings.retention_days),
            settings.purge_interval_seconds,
            runtime.lease("purge", ttl_seconds=300.0),
        ),
        "activity-purge",
    )
    return [
        Registration(
            ActivityServicer(store),
            activity_pb2_grpc.add_ActivityServiceServicer_to_server,
            activity_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name,
        )
    ]
