"""CheckPurchase: internal, and true only for a paid order (or one further along) with the product."""

from __future__ import annotations

import random

import grpc
import pytest

from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.harness import Platform
from tests.support.purchases import Purchases
from tests.support.tokens import TokenFactory, bearer


@pytest.fixture
async def purchases(platform: Platform, tokens: TokenFactory) -> Purchases:
    shop = Purchases(platform, tokens)
    await shop.start()
    return shop


def _user() -> int:
    return random.randint(10**6, 10**12)


class Checker:
    def __init__(self, platform: Platform, tokens: TokenFactory) -> None:
        self.orders = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
        self.service = bearer(tokens.service("reviews"))

    async def __call__(self, user_id: int, product_id: int) -> bool:
        reply = await self.orders.CheckPurchase(
            orders_pb2.CheckPurchaseRequest(user_id=user_id, product_id=product_id), metadata=self.service
        )
        purchased: bool = reply.purchased
        return purchased


async def test_only_a_paid_order_with_the_product_counts(
    purchases: Purchases, platform: Platform, tokens: TokenFactory
) -> None:
    bought = Checker(platform, tokens)
    mug, lamp, other = await purchases.product(), await purchases.product(), await purchases.product()
    buyer, stranger = _user(), _user()

    assert not await bought(buyer, mug)
    order = await purchases.buy(buyer, mug, lamp)
    assert await bought(buyer, mug)
    assert await bought(buyer, lamp)
    assert not await bought(buyer, other)
    assert not await bought(stranger, mug)

    # Further along still counts; refunded does not.
    await purchases.set_status(order, orders_pb2.ORDER_STATUS_SHIPPED)
    assert await bought(buyer, mug)
    await purchases.set_status(order, orders_pb2.ORDER_STATUS_DELIVERED)
    assert await bought(buyer, mug)
    await purchases.set_status(order, orders_pb2.ORDER_STATUS_REFUNDED)
    assert not await bought(buyer, mug)


async def test_a_cancelled_order_does_not_count(
    purchases: Purchases, platform: Platform, tokens: TokenFactory
) -> None:
    bought = Checker(platform, tokens)
    item = await purchases.product()
    buyer = _user()
    order = await purchases.buy(buyer, item)
    assert await bought(buyer, item)
    await purchases.cancel(order)
    assert not await bought(buyer, item)
    # Buying again makes it count again.
    await purchases.buy(buyer, item)
    assert await bought(buyer, item)


async def test_check_purchase_is_for_services_only(
    purchases: Purchases, platform: Platform, tokens: TokenFactory
) -> None:
    item = await purchases.product()
    buyer = _user()
    await purchases.buy(buyer, item)
    orders = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    request = orders_pb2.CheckPurchaseRequest(user_id=buyer, product_id=item)
    for metadata, code in [
        (bearer(tokens.customer(buyer)), grpc.StatusCode.PERMISSION_DENIED),
        (bearer(tokens.admin()), grpc.StatusCode.PERMISSION_DENIED),
        ((), grpc.StatusCode.UNAUTHENTICATED),
        (bearer(tokens.foreign(buyer)), grpc.StatusCode.UNAUTHENTICATED),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await orders.CheckPurchase(request, metadata=metadata)
        assert err.value.code() == code


@pytest.mark.parametrize(("user_id", "product_id"), [(0, 1), (1, 0), (-1, 1), (1, -5)])
async def test_check_purchase_needs_both_ids(
    purchases: Purchases, platform: Platform, tokens: TokenFactory, user_id: int, product_id: int
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await Checker(platform, tokens)(user_id, product_id)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
