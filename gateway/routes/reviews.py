"""/api/products/{id}/reviews: reading is public, writing needs a signed-in user."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, RootModel, StrictStr

from gateway.models import Message, QueryParams, RequestBody
from gateway.routing import Ctx, Route
from shop.reviews.v1 import reviews_pb2

_SORTS = {
    "newest": reviews_pb2.REVIEW_SORT_NEWEST,
    "highest": reviews_pb2.REVIEW_SORT_HIGHEST,
    "lowest": reviews_pb2.REVIEW_SORT_LOWEST,
}


class NewReview(RequestBody):
    rating: int = Field(ge=1, le=5)
    comment: StrictStr = ""


class ReviewOut(BaseModel):
    rating: int
    comment: str


class ReviewList(RootModel[list[ReviewOut]]):
    pass


class ReviewQuery(QueryParams):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)
    sort: Literal["newest", "highest", "lowest"] = "newest"


async def add_review(ctx: Ctx) -> Message:
    body = ctx.body(NewReview)
    await ctx.upstreams.reviews.CreateReview(
        reviews_pb2.CreateReviewRequest(product_id=ctx.id("id"), rating=body.rating, comment=body.comment),
        metadata=ctx.metadata,
    )
    return Message(message="Review added")


async def list_reviews(ctx: Ctx) -> ReviewList:
    query = ctx.query(ReviewQuery)
    reply = await ctx.upstreams.reviews.ListReviews(
        reviews_pb2.ListReviewsRequest(
            product_id=ctx.id("id"),
            page_size=query.page_size,
            page_token=query.page_token,
            sort=_SORTS[query.sort],
        ),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return ReviewList([ReviewOut(rating=r.rating, comment=r.comment) for r in reply.reviews])


TAGS = ("reviews",)
ROUTES = [
    Route(
        "POST",
        "/products/{id}/reviews/",
        add_review,
        "Review a product (a second review replaces the first)",
        TAGS,
        auth="user",
        request=NewReview,
        response=Message,
        status=201,
        errors=(409,),
    ),
    Route(
        "GET",
        "/products/{id}/reviews/",
        list_reviews,
        "A product's reviews",
        TAGS,
        response=ReviewList,
        query=ReviewQuery,
        paged=True,
    ),
]
