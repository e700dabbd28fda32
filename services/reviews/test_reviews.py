from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.reviews.v1 import reviews_pb2, reviews_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import eventually, once_available
from tests.support.purchases import Purchases
from tests.support.tokens import TokenFactory, bearer

UNKNOWN_PRODUCT = 9_000_000_000_000


@dataclass
class Clients:
    reviews: reviews_pb2_grpc.ReviewsServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    tokens: TokenFactory

    async def product(self) -> int:
        reply = await self.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                name="Kettle", price=common_pb2.Money(amount_minor=2500, currency="USD")
            ),
            metadata=bearer(self.tokens.admin()),
        )
        product_id: int = reply.product.id
        return product_id

    async def review(
        self, product_id: int, rating: int, comment: str = "", user: int | None = None
    ) -> reviews_pb2.CreateReviewResponse:
        reply: reviews_pb2.CreateReviewResponse = await self.reviews.CreateReview(
            reviews_pb2.CreateReviewRequest(product_id=product_id, rating=rating, comment=comment),
            metadata=bearer(self.tokens.customer(user or new_user())),
        )
        return reply

    async def listed(
        self,
        product_id: int,
        sort: reviews_pb2.ReviewSort.ValueType = reviews_pb2.REVIEW_SORT_UNSPECIFIED,
        page_size: int = 0,
    ) -> list[reviews_pb2.Review]:
        """Every visible review of the product, walking all pages."""
        seen: list[reviews_pb2.Review] = []
        token = ""
        while True:
            page = await self.reviews.ListReviews(
                reviews_pb2.ListReviewsRequest(
                    product_id=product_id, sort=sort, page_size=page_size, page_token=token
                )
            )
            assert len(page.reviews) <= (page_size or 50)
            seen += page.reviews
            token = page.next_page_token
            if not token:
                return seen

    async def summary(self, product_id: int) -> reviews_pb2.RatingSummary:
        reply = await self.reviews.BatchGetRatingSummaries(
            reviews_pb2.BatchGetRatingSummariesRequest(product_ids=[product_id])
        )
        summary: reviews_pb2.RatingSummary = reply.summaries[0]
        return summary


def new_user() -> int:
    return random.randint(1_000_000, 2**53)


@pytest.fixture
async def clients(platform: Platform, tokens: TokenFactory) -> Clients:
    await platform.start("catalog")
    await platform.start("reviews")
    return Clients(
        platform.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews"),
        platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
        tokens,
    )


async def test_create_then_list(clients: Clients) -> None:
    pid = await clients.product()
    user = new_user()
    reply = await clients.review(pid, 4, "  solid kettle \n", user=user)
    assert reply.created
    review = reply.review
    assert (review.product_id, review.user_id, review.rating, review.comment) == (
        pid,
        user,
        4,
        "solid kettle",
    )
    assert not review.verified_purchase
    assert not review.hidden
    assert review.create_time.seconds > 0
    listed = await clients.listed(pid)
    assert [r.id for r in listed] == [review.id]
    assert listed[0].comment == "solid kettle"


async def test_second_review_by_same_user_updates_the_first(clients: Clients) -> None:
    pid = await clients.product()
    user = new_user()
    first = await clients.review(pid, 2, "meh", user=user)
    second = await clients.review(pid, 5, "grew on me", user=user)
    assert not second.created
    assert second.review.id == first.review.id
    assert (second.review.rating, second.review.comment) == (5, "grew on me")
    assert [(r.id, r.rating) for r in await clients.listed(pid)] == [(first.review.id, 5)]
    summary = await clients.summary(pid)
    assert (summary.count, summary.average, list(summary.histogram)) == (1, 5.0, [0, 0, 0, 0, 1])


@pytest.mark.parametrize(("rating", "comment"), [(0, ""), (6, ""), (-1, ""), (3, "x" * 2001)])
async def test_invalid_reviews_are_rejected(clients: Clients, rating: int, comment: str) -> None:
    pid = await clients.product()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.review(pid, rating, comment)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await clients.listed(pid) == []


async def test_comment_limit_counts_after_stripping(clients: Clients) -> None:
    pid = await clients.product()
    reply = await clients.review(pid, 3, "  " + "x" * 2000 + "  ")
    assert len(reply.review.comment) == 2000


async def test_unknown_product_is_not_found(clients: Clients) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.review(UNKNOWN_PRODUCT, 5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == f"product {UNKNOWN_PRODUCT} not found"


async def test_anonymous_cannot_review(clients: Clients) -> None:
    pid = await clients.product()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.CreateReview(reviews_pb2.CreateReviewRequest(product_id=pid, rating=5))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_hiding_removes_from_listing_and_summary_until_unhidden(clients: Clients) -> None:
    pid = await clients.product()
    kept = (await clients.review(pid, 5)).review
    spam = (await clients.review(pid, 1, "buy followers")).review
    admin = bearer(clients.tokens.admin())

    hidden = await clients.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=spam.id, hidden=True), metadata=admin
    )
    assert hidden.review.hidden
    assert [r.id for r in await clients.listed(pid)] == [kept.id]
    summary = await clients.summary(pid)
    assert (summary.count, summary.average, list(summary.histogram)) == (1, 5.0, [0, 0, 0, 0, 1])

    # Hiding twice changes nothing.
    await clients.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=spam.id, hidden=True), metadata=admin
    )
    assert (await clients.summary(pid)).count == 1

    await clients.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=spam.id, hidden=False), metadata=admin
    )
    assert {r.id for r in await clients.listed(pid)} == {kept.id, spam.id}
    summary = await clients.summary(pid)
    assert (summary.count, summary.average, list(summary.histogram)) == (2, 3.0, [1, 0, 0, 0, 1])


async def test_customer_cannot_hide(clients: Clients) -> None:
    pid = await clients.product()
    user = new_user()
    review = (await clients.review(pid, 1, user=user)).review
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.SetReviewHidden(
            reviews_pb2.SetReviewHiddenRequest(id=review.id, hidden=True),
            metadata=bearer(clients.tokens.customer(user)),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [r.id for r in await clients.listed(pid)] == [review.id]


async def test_hiding_unknown_review_is_not_found(clients: Clients) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.SetReviewHidden(
            reviews_pb2.SetReviewHiddenRequest(id=UNKNOWN_PRODUCT, hidden=True),
            metadata=bearer(clients.tokens.admin()),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
async def test_sorting_and_pagination_walk_every_review_once_in_order(
    clients: Clients, page_size: int
) -> None:
    pid = await clients.product()
    created = [(await clients.review(pid, rating)).review for rating in (5, 3, 5, 1, 3, 4, 5, 2, 3)]
    hidden = (await clients.review(pid, 4)).review
    await clients.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=hidden.id, hidden=True), metadata=bearer(clients.tokens.admin())
    )

    def newest_key(r: reviews_pb2.Review) -> tuple[int, int, int]:
        return (r.create_time.seconds, r.create_time.nanos, r.id)

    newest = sorted(created, key=newest_key, reverse=True)
    expected = {
        reviews_pb2.REVIEW_SORT_UNSPECIFIED: newest,
        reviews_pb2.REVIEW_SORT_NEWEST: newest,
        # Stable sorts of the newest-first order: ties stay newest first.
        reviews_pb2.REVIEW_SORT_HIGHEST: sorted(newest, key=lambda r: -r.rating),
        reviews_pb2.REVIEW_SORT_LOWEST: sorted(newest, key=lambda r: r.rating),
    }
    for sort, want in expected.items():
        got = await clients.listed(pid, sort=sort, page_size=page_size)
        assert [r.id for r in got] == [r.id for r in want], reviews_pb2.ReviewSort.Name(sort)


async def test_bad_page_tokens_are_invalid_argument(clients: Clients) -> None:
    pid = await clients.product()
    for _ in range(3):
        await clients.review(pid, 4)
    page = await clients.reviews.ListReviews(
        reviews_pb2.ListReviewsRequest(product_id=pid, page_size=1, sort=reviews_pb2.REVIEW_SORT_HIGHEST)
    )
    assert page.next_page_token
    for token, sort in [
        ("%%%", reviews_pb2.REVIEW_SORT_NEWEST),
        # A token is only good for the sort that made it.
        (page.next_page_token, reviews_pb2.REVIEW_SORT_LOWEST),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await clients.reviews.ListReviews(
                reviews_pb2.ListReviewsRequest(product_id=pid, page_size=1, page_token=token, sort=sort)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_batch_summaries_cover_every_requested_product(clients: Clients) -> None:
    rated, single, unrated = await clients.product(), await clients.product(), await clients.product()
    for rating in (5, 4, 4, 1):
        await clients.review(rated, rating)
    await clients.review(single, 3)

    reply = await clients.reviews.BatchGetRatingSummaries(
        reviews_pb2.BatchGetRatingSummariesRequest(product_ids=[unrated, rated, single, rated])
    )
    got = {s.product_id: (s.count, s.average, list(s.histogram)) for s in reply.summaries}
    assert [s.product_id for s in reply.summaries] == [unrated, rated, single]
    assert got == {
        rated: (4, 3.5, [1, 0, 0, 2, 1]),
        single: (1, 3.0, [0, 0, 1, 0, 0]),
        unrated: (0, 0.0, [0, 0, 0, 0, 0]),
    }


async def test_batch_summaries_are_capped(clients: Clients) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.BatchGetRatingSummaries(
            reviews_pb2.BatchGetRatingSummariesRequest(product_ids=list(range(1, 502)))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_concurrent_reviews_are_all_counted(clients: Clients) -> None:
    pid = await clients.product()
    ratings = [i % 5 + 1 for i in range(10)]
    replies = await asyncio.gather(*(clients.review(pid, rating) for rating in ratings))
    assert all(r.created for r in replies)
    summary = await clients.summary(pid)
    assert summary.count == 10
    assert summary.average == sum(ratings) / 10
    assert list(summary.histogram) == [2, 2, 2, 2, 2]
    assert len(await clients.listed(pid, page_size=3)) == 10


async def test_concurrent_repeats_by_one_user_leave_one_review(clients: Clients) -> None:
    pid = await clients.product()
    user = new_user()
    replies = await asyncio.gather(*(clients.review(pid, rating, user=user) for rating in (1, 2, 3, 4, 5)))
    assert sum(r.created for r in replies) == 1
    assert len({r.review.id for r in replies}) == 1
    listed = await clients.listed(pid)
    assert len(listed) == 1
    summary = await clients.summary(pid)
    assert (summary.count, summary.average) == (1, float(listed[0].rating))
    assert sum(summary.histogram) == 1


async def test_delete_by_author_or_admin_only(clients: Clients) -> None:
    pid = await clients.product()
    author = new_user()
    mine = (await clients.review(pid, 2, user=author)).review
    other = (await clients.review(pid, 4)).review

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.DeleteReview(
            reviews_pb2.DeleteReviewRequest(id=mine.id), metadata=bearer(clients.tokens.customer(new_user()))
        )
    # Not PERMISSION_DENIED: a stranger must not learn that the review exists.
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.DeleteReview(reviews_pb2.DeleteReviewRequest(id=mine.id))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    await clients.reviews.DeleteReview(
        reviews_pb2.DeleteReviewRequest(id=mine.id), metadata=bearer(clients.tokens.customer(author))
    )
    summary = await clients.summary(pid)
    assert (summary.count, summary.average) == (1, 4.0)

    await clients.reviews.DeleteReview(
        reviews_pb2.DeleteReviewRequest(id=other.id), metadata=bearer(clients.tokens.admin())
    )
    assert await clients.listed(pid) == []
    summary = await clients.summary(pid)
    assert (summary.count, summary.average, list(summary.histogram)) == (0, 0.0, [0, 0, 0, 0, 0])

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.reviews.DeleteReview(
            reviews_pb2.DeleteReviewRequest(id=other.id), metadata=bearer(clients.tokens.admin())
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_delete_user_reviews_is_for_services_and_fixes_summaries(clients: Clients) -> None:
    first, second = await clients.product(), await clients.product()
    leaving, staying = new_user(), new_user()
    await clients.review(first, 1, user=leaving)
    hidden = (await clients.review(second, 2, user=leaving)).review
    await clients.reviews.SetReviewHidden(
        reviews_pb2.SetReviewHiddenRequest(id=hidden.id, hidden=True), metadata=bearer(clients.tokens.admin())
    )
    await clients.review(first, 5, user=staying)
    request = reviews_pb2.DeleteUserReviewsRequest(user_id=leaving)

    for token in (clients.tokens.customer(leaving), clients.tokens.admin()):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await clients.reviews.DeleteUserReviews(request, metadata=bearer(token))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    service = bearer(clients.tokens.service("auth"))
    assert (await clients.reviews.DeleteUserReviews(request, metadata=service)).deleted == 2
    assert (await clients.reviews.DeleteUserReviews(request, metadata=service)).deleted == 0
    assert [r.user_id for r in await clients.listed(first)] == [staying]
    reply = await clients.reviews.BatchGetRatingSummaries(
        reviews_pb2.BatchGetRatingSummariesRequest(product_ids=[first, second])
    )
    assert [(s.count, s.average) for s in reply.summaries] == [(1, 5.0), (0, 0.0)]


@pytest.fixture
async def purchases(platform: Platform, clients: Clients, tokens: TokenFactory) -> Purchases:
    """Everything a checkout needs, running, and reviews reaching orders (the services of one test
    process share subchannels: one started late may stay unreachable for a reconnect backoff)."""
    shop = Purchases(platform, tokens)
    pid, user = await shop.product(), new_user()
    await shop.buy(user, pid)
    await eventually(lambda: clients.review(pid, 5, user=user), lambda reply: reply.review.verified_purchase)
    return shop


async def test_verified_purchase_only_with_a_qualifying_order(clients: Clients, purchases: Purchases) -> None:
    pid, elsewhere = await purchases.product(), await purchases.product()
    buyer, browser, canceller, other_buyer, late = (new_user() for _ in range(5))
    await purchases.buy(buyer, pid)
    await purchases.cancel(await purchases.buy(canceller, pid))
    await purchases.buy(other_buyer, elsewhere)

    assert (await clients.review(pid, 5, user=buyer)).review.verified_purchase
    for user in (browser, canceller, other_buyer):
        assert not (await clients.review(pid, 2, user=user)).review.verified_purchase

    # A second review by the same user updates the first, and checks the purchase again.
    first = await clients.review(pid, 1, "not bought yet", user=late)
    assert (first.created, first.review.verified_purchase) == (True, False)
    await purchases.buy(late, pid)
    second = await clients.review(pid, 4, "bought it since", user=late)
    assert (second.created, second.review.id) == (False, first.review.id)
    assert (second.review.rating, second.review.comment, second.review.verified_purchase) == (
        4,
        "bought it since",
        True,
    )
    listed = {r.user_id: r.verified_purchase for r in await clients.listed(pid)}
    assert listed == {buyer: True, browser: False, canceller: False, other_buyer: False, late: True}
    summary = await clients.summary(pid)
    assert (summary.count, list(summary.histogram)) == (5, [0, 3, 0, 1, 1])


async def test_orders_down_still_accepts_the_review_unverified(
    platform: Platform, clients: Clients, purchases: Purchases
) -> None:
    pid = await purchases.product()
    buyer = new_user()
    await purchases.buy(buyer, pid)
    await platform.stop("orders")
    try:
        reply = await clients.review(pid, 5, user=buyer)
        assert (reply.created, reply.review.verified_purchase) == (True, False)
        assert (await clients.summary(pid)).count == 1
    finally:
        await platform.start("orders")
    # Once orders answers again, the next edit of the review verifies it.
    await eventually(lambda: clients.review(pid, 5, user=buyer), lambda reply: reply.review.verified_purchase)
    assert [r.verified_purchase for r in await clients.listed(pid)] == [True]


async def test_catalog_down_is_unavailable(platform: Platform, clients: Clients) -> None:
    # Last in this file: it stops the shared catalog and waits until reviews reach it again.
    pid = await clients.product()
    await platform.stop("catalog")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await clients.review(pid, 5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await platform.start("catalog")
    assert (await once_available(lambda: clients.review(pid, 4))).created
