"""The reviews gRPC servicer: validates, checks the product with the catalog, calls the store,
maps rows to messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import grpc

from services.kit import paging, principal, text, timestamps
from services.kit.catalog_client import require_product
from services.kit.clients import ServiceToken, unreachable
from services.kit.errors import DomainError, invalid
from services.kit.server import Registration, Runtime
from shop.catalog.v1 import catalog_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc

from .domain import MAX_RATING, MIN_RATING, Cursor, ReviewsError, Sort, average
from .store import DeleteOutcome, ReviewRow, ReviewsStore, Summary

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_COMMENT = 2000
MAX_BATCH = 500
# How long CreateReview waits for orders to say whether the reviewer bought the product.
PURCHASE_CHECK_SECONDS = 2.0

log = logging.getLogger("shop.reviews")

_SORTS = {
    reviews_pb2.REVIEW_SORT_UNSPECIFIED: Sort.NEWEST,
    reviews_pb2.REVIEW_SORT_NEWEST: Sort.NEWEST,
    reviews_pb2.REVIEW_SORT_HIGHEST: Sort.HIGHEST,
    reviews_pb2.REVIEW_SORT_LOWEST: Sort.LOWEST,
}


def _to_proto(row: ReviewRow) -> reviews_pb2.Review:
    return reviews_pb2.Review(
        id=row.id,
        product_id=row.product_id,
        user_id=row.user_id,
        rating=row.rating,
        comment=row.comment,
        verified_purchase=row.verified_purchase,
        hidden=row.hidden,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def _summary(product_id: int, row: Summary | None) -> reviews_pb2.RatingSummary:
    if row is None:
        return reviews_pb2.RatingSummary(product_id=product_id, average=0.0, count=0, histogram=[0] * 5)
    return reviews_pb2.RatingSummary(
        product_id=product_id, average=average(row.count, row.total), count=row.count, histogram=row.histogram
    )


def _product_id(value: int) -> int:
    if value <= 0:
        raise invalid("product_id is required")
    return value


def _rating(value: int) -> int:
    if not MIN_RATING <= value <= MAX_RATING:
        raise invalid(f"rating must be between {MIN_RATING} and {MAX_RATING}")
    return value


def _sort(value: reviews_pb2.ReviewSort.ValueType) -> Sort:
    sort = _SORTS.get(value)
    if sort is None:
        raise invalid(f"unknown sort {value}")
    return sort


class ReviewsServicer(reviews_pb2_grpc.ReviewsServiceServicer):
    def __init__(
        self,
        store: ReviewsStore,
        catalog: catalog_pb2_grpc.CatalogServiceAsyncStub,
        orders: orders_pb2_grpc.OrdersServiceStub,
        token: ServiceToken,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._orders = orders
        self._token = token

    async def _require_product(self, product_id: int) -> None:
        await require_product(self._catalog, product_id, ReviewsError.PRODUCT_NOT_FOUND)

    async def _purchased(self, user_id: int, product_id: int) -> bool | None:
        """Whether the user bought the product (asked of orders with this service's own token), or
        None when orders cannot say: the review is then still accepted, not verified (an edit keeps
        what it had), and the next edit of the review checks again."""
        try:
            async with asyncio.timeout(PURCHASE_CHECK_SECONDS):
                reply = await self._orders.CheckPurchase(
                    orders_pb2.CheckPurchaseRequest(user_id=user_id, product_id=product_id),
                    metadata=await self._token.metadata(),
                )
        except (grpc.aio.AioRpcError, TimeoutError) as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.DEADLINE_EXCEEDED
            expected = unreachable(code)
            log.log(
                logging.WARNING if expected else logging.ERROR,
                "purchase not checked: review saved without verified purchase",
                extra={"user_id": user_id, "product_id": product_id, "code": code.name},
            )
            return None
        purchased: bool = reply.purchased
        return purchased

    async def CreateReview(
        self, request: reviews_pb2.CreateReviewRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.CreateReviewResponse:
        user = principal.require_user()
        product_id = _product_id(request.product_id)
        rating = _rating(request.rating)
        comment = text.bounded(request.comment, "comment", MAX_COMMENT)
        await self._require_product(product_id)
        verified = await self._purchased(user.user_id, product_id)
        result = await self._store.put(product_id, user.user_id, rating, comment, verified)
        if result is None:
            raise DomainError(ReviewsError.CONCURRENT_CHANGE)
        row, created = result
        return reviews_pb2.CreateReviewResponse(review=_to_proto(row), created=created)

    async def ListReviews(
        self, request: reviews_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.ListReviewsResponse:
        product_id = _product_id(request.product_id)
        sort = _sort(request.sort)
        size = paging.page_size(request.page_size)
        rows = await self._store.list(product_id, sort, size + 1, Cursor.decode(request.page_token, sort))
        rows, next_token = paging.split(
            rows, size, lambda r: Cursor(r.rating, r.created_at, r.id).encode(sort)
        )
        return reviews_pb2.ListReviewsResponse(
            reviews=[_to_proto(r) for r in rows], next_page_token=next_token
        )

    async def SetReviewHidden(
        self, request: reviews_pb2.SetReviewHiddenRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.SetReviewHiddenResponse:
        principal.require_admin()
        row = await self._store.set_hidden(request.id, request.hidden)
        if row is None:
            raise DomainError(ReviewsError.REVIEW_NOT_FOUND, f"review {request.id} not found")
        return reviews_pb2.SetReviewHiddenResponse(review=_to_proto(row))

    async def DeleteReview(
        self, request: reviews_pb2.DeleteReviewRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.DeleteReviewResponse:
        user = principal.require_user()
        outcome = await self._store.delete(request.id, None if user.is_admin else user.user_id)
        # Someone else's review is "not found" to a customer: the answer must not tell that it exists.
        if outcome is not DeleteOutcome.DELETED:
            raise DomainError(ReviewsError.REVIEW_NOT_FOUND, f"review {request.id} not found")
        return reviews_pb2.DeleteReviewResponse()

    async def BatchGetRatingSummaries(
        self, request: reviews_pb2.BatchGetRatingSummariesRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.BatchGetRatingSummariesResponse:
        if len(request.product_ids) > MAX_BATCH:
            raise invalid(f"at most {MAX_BATCH} product ids per call")
        # One summary per requested product, in request order, each product once.
        product_ids = list(dict.fromkeys(request.product_ids))
        rows = await self._store.summaries(product_ids)
        return reviews_pb2.BatchGetRatingSummariesResponse(
            summaries=[_summary(pid, rows.get(pid)) for pid in product_ids]
        )

    async def DeleteUserReviews(
        self, request: reviews_pb2.DeleteUserReviewsRequest, context: grpc.aio.ServicerContext
    ) -> reviews_pb2.DeleteUserReviewsResponse:
        principal.require_service_for(request.user_id)
        return reviews_pb2.DeleteUserReviewsResponse(
            deleted=await self._store.delete_by_user(request.user_id)
        )


async def build(runtime: Runtime) -> Sequence[Registration]:
    db = await runtime.database(MIGRATIONS)
    catalog = cast(
        "catalog_pb2_grpc.CatalogServiceAsyncStub",
        runtime.channels.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
    )
    orders = runtime.channels.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    return [
        Registration(
            ReviewsServicer(ReviewsStore(db), catalog, orders, runtime.service_token()),
            reviews_pb2_grpc.add_ReviewsServiceServicer_to_server,
            reviews_pb2.DESCRIPTOR.services_by_name["ReviewsService"].full_name,
        )
    ]
