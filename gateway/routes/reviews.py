"""/api/products/{id}/reviews: reading is public, writing needs a signed-in user; authors and admins
delete (/api/reviews/{id}), admins hide (/api/admin/reviews/{id}/hidden)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, RootModel, StrictBool, StrictStr

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


class ReviewDetail(BaseModel):
    """A public listing names no reviewer: a user id there would let anyone collect who reviewed what."""

    id: int
    rating: int
    comment: str
    verified_purchase: bool
    created_at: datetime


class ReviewList(RootModel[list[ReviewOut] | list[ReviewDetail]]):
    """The documented `[{rating, comment}]`; with `detail=true`, each review's details too."""


class ReviewQuery(QueryParams):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)
    sort: Literal["newest", "highest", "lowest"] = "newest"
    detail: bool = Field(default=False, description="Add id, verified_purchase, created_at")


class Visibility(RequestBody):
    hidden: StrictBool


async def add_review(ctx: Ctx) -> Message:
    body = ctx.body(NewReview)
    await ctx.upstreams.reviews.CreateReview(
        reviews_pb2.CreateReviewRequest(product_id=ctx.id("id"), rating=body.rating, comment=body.comment),
        metadata=ctx.metadata,
    )
    ctx.record("reviewed", product_id=ctx.id("id"), attributes={"rating": str(body.rating)})
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
    if query.detail:
        return ReviewList([_detail(r) for r in reply.reviews])
    return ReviewList([ReviewOut(rating=r.rating, comment=r.comment) for r in reply.reviews])


def _detail(review: reviews_pb2.Review) -> ReviewDetail:
    return ReviewDetail(
        id=review.id,
        rating=review.rating,
        comment=review.comment,
        verified_purchase=review.verified_purchase,
        created_at=review.create_time.ToDatetime(tzinfo=UTC),
    )


async def set_review_hidden(ctx: Ctx) -> Message:
    body = ctx.body(Visibility)
    await ctx.upstreams.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=ctx.id("id"), hidden=body.hidden), metadata=ctx.metadata
    )
    return Message(message="Review hidden" if body.hidden else "Review shown")


async def delete_review(ctx: Ctx) -> Message:
    await ctx.upstreams.reviews.DeleteReview(
        reviews_pb2.DeleteReviewRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Message(message="Review deleted")


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
    Route(
        "DELETE",
        "/reviews/{id}",
        delete_review,
        "Delete a review (its author or an admin; anyone else's is 404)",
        TAGS,
        auth="user",
        response=Message,
    ),
    Route(
        "PUT",
        "/admin/reviews/{id}/hidden",
        set_review_hidden,
        "Hide a review from the listing and the rating, or show it again",
        TAGS,
        auth="admin",
        request=Visibility,
        response=Message,
    ),
]
