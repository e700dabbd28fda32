"""What follows from shoppers' activity: the caller's recently viewed products, popular products
and a product's recommendations (recording itself is `ctx.record`, see gateway/activity.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field, RootModel

from gateway.models import QueryParams
from gateway.routing import Ctx, Route
from shop.activity.v1 import activity_pb2

MAX_DAYS = 90

_TYPES = {
    "all": activity_pb2.EVENT_TYPE_UNSPECIFIED,
    "viewed": activity_pb2.EVENT_TYPE_PRODUCT_VIEWED,
    "added_to_cart": activity_pb2.EVENT_TYPE_CART_ADDED,
    "ordered": activity_pb2.EVENT_TYPE_ORDER_PLACED,
    "reviewed": activity_pb2.EVENT_TYPE_REVIEWED,
}
_KINDS = {
    "also_viewed": activity_pb2.RECOMMENDATION_KIND_ALSO_VIEWED,
    "also_bought": activity_pb2.RECOMMENDATION_KIND_ALSO_BOUGHT,
}


class ViewedProduct(BaseModel):
    product_id: int
    viewed_at: datetime


class ViewedList(RootModel[list[ViewedProduct]]):
    """The caller's viewed products, each once, most recently viewed first."""


class PopularProduct(BaseModel):
    product_id: int
    count: int = Field(description="Events of the requested type in the window")


class PopularList(RootModel[list[PopularProduct]]):
    """Most events first."""


class RecommendedProduct(BaseModel):
    product_id: int
    score: float = Field(description="Higher is more related; comparable within one answer only")


class RecommendedList(RootModel[list[RecommendedProduct]]):
    """Best first; never the product itself."""


class RecentQuery(QueryParams):
    page_size: int = Field(default=20, ge=1, le=100)
    page_token: str = Field(default="", max_length=1000)


class PopularQuery(QueryParams):
    days: int = Field(default=7, ge=1, le=MAX_DAYS, description="The window: the last N days")
    type: Literal["all", "viewed", "added_to_cart", "ordered", "reviewed"] = "viewed"
    page_size: int = Field(default=20, ge=1, le=100)
    page_token: str = Field(default="", max_length=1000)


class RecommendationQuery(QueryParams):
    kind: Literal["also_viewed", "also_bought"] = "also_viewed"
    limit: int = Field(default=10, ge=1, le=100)


def _stamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def recently_viewed(ctx: Ctx) -> ViewedList:
    query = ctx.query(RecentQuery)
    reply = await ctx.upstreams.activity.ListRecentlyViewed(
        activity_pb2.ListRecentlyViewedRequest(page_size=query.page_size, page_token=query.page_token),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return ViewedList(
        [
            ViewedProduct(product_id=p.product_id, viewed_at=p.view_time.ToDatetime(tzinfo=UTC))
            for p in reply.products
        ]
    )


async def popular_products(ctx: Ctx) -> PopularList:
    query = ctx.query(PopularQuery)
    now = datetime.now(UTC)
    reply = await ctx.upstreams.activity.ListPopularProducts(
        activity_pb2.ListPopularProductsRequest(
            type=_TYPES[query.type],
            start_time=_stamp(now - timedelta(days=query.days)),
            end_time=_stamp(now),
            page_size=query.page_size,
            page_token=query.page_token,
        ),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return PopularList([PopularProduct(product_id=p.product_id, count=p.count) for p in reply.products])


async def recommendations(ctx: Ctx) -> RecommendedList:
    query = ctx.query(RecommendationQuery)
    reply = await ctx.upstreams.activity.GetRecommendations(
        activity_pb2.GetRecommendationsRequest(
            product_id=ctx.id("id"), kind=_KINDS[query.kind], limit=query.limit
        ),
        metadata=ctx.metadata,
    )
    return RecommendedList(
        [RecommendedProduct(product_id=p.product_id, score=p.score) for p in reply.products]
    )


TAGS = ("activity",)
ROUTES = [
    Route(
        "GET",
        "/me/recently-viewed/",
        recently_viewed,
        "The caller's recently viewed products, newest first",
        TAGS,
        auth="user",
        response=ViewedList,
        query=RecentQuery,
        paged=True,
    ),
    # "/products/popular" never meets "/products/{id}": path ids are digits only.
    Route(
        "GET",
        "/products/popular/",
        popular_products,
        "The products with the most activity of one kind in the last days",
        TAGS,
        response=PopularList,
        query=PopularQuery,
        paged=True,
    ),
    Route(
        "GET",
        "/products/{id}/recommendations/",
        recommendations,
        "Products viewed or bought by the shoppers who viewed or bought this one",
        TAGS,
        response=RecommendedList,
        query=RecommendationQuery,
    ),
]
