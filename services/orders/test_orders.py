from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import grpc
import pytest

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.support.cards import tokenize
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

SERVICES = ("auth", "catalog", "inventory", "cart", "payments", "orders")
PAID = orders_pb2.ORDER_STATUS_PAID
FAILED = orders_pb2.ORDER_STATUS_FAILED
CANCELLED = orders_pb2.ORDER_STATUS_CANCELLED

Meta = tuple[tuple[str, str]]


async def _tokenized(platform: Platform, number: str) -> payments_pb2.PaymentMethod:
    """A card number goes to payments' tokenization endpoint; "tok_..." is sent as it is."""
    token = number if number.startswith("tok_") else await tokenize(platform, number)
    return payments_pb2.PaymentMethod(token=token)


@dataclass
class Shop:
    platform: Platform
    tokens: TokenFactory
    orders: orders_pb2_grpc.OrdersServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    cart: cart_pb2_grpc.CartServiceStub
    payments: payments_pb2_grpc.PaymentsServiceStub

    @property
    def admin(self) -> Meta:
        return bearer(self.tokens.admin())

    def customer(self) -> Meta:
        return bearer(self.tokens.customer(random.randint(10**6, 10**12)))

    async def product(self, cents: int, stock: int, currency: str = "USD") -> int:
        reply = await self.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                name=f"Thing {uuid4().hex[:8]}", price=common_pb2.Money(amount_minor=cents, currency=currency)
            ),
            metadata=self.admin,
        )
        await self.inventory.SetStock(
            inventory_pb2.SetStockRequest(product_id=reply.product.id, on_hand=stock), metadata=self.admin
        )
        return int(reply.product.id)

    async def fill(self, who: Meta, *lines: tuple[int, int]) -> None:
        for product_id, quantity in lines:
            await self.cart.AddItem(
                cart_pb2.AddItemRequest(product_id=product_id, quantity=quantity), metadata=who
            )

    async def cart_lines(self, who: Meta) -> dict[int, int]:
        reply = await self.cart.GetCart(cart_pb2.GetCartRequest(), metadata=who)
        return {item.product_id: item.quantity for item in reply.cart.items}

    async def on_hand(self, *product_ids: int) -> list[int]:
        reply = await self.inventory.BatchGetStock(
            inventory_pb2.BatchGetStockRequest(product_ids=product_ids), metadata=self.admin
        )
        found = {level.product_id: level.on_hand for level in reply.levels}
        return [found[p] for p in product_ids]

    async def checkout(
        self, who: Meta, key: str = "", method: payments_pb2.PaymentMethod | None = None
    ) -> orders_pb2.Order:
        request = orders_pb2.CreateOrderRequest(idempotency_key=key)
        if method is not None:
            request.payment_method.CopyFrom(method)
        reply: orders_pb2.CreateOrderResponse = await self.orders.CreateOrder(request, metadata=who)
        return reply.order

    async def latest_order(self, who: Meta) -> orders_pb2.Order:
        reply: orders_pb2.ListOrdersResponse = await self.orders.ListOrders(
            orders_pb2.ListOrdersRequest(page_size=1), metadata=who
        )
        return reply.orders[0]

    async def payments_of(self, order_id: int) -> list[payments_pb2.Payment]:
        reply = await self.payments.ListPayments(
            payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}"),
            metadata=bearer(self.tokens.service("test")),
        )
        return list(reply.payments)


@pytest.fixture
async def shop(platform: Platform, tokens: TokenFactory) -> Shop:
    for name in SERVICES:
        await platform.start(name)
    return Shop(
        platform,
        tokens,
        platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders"),
        platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
        platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory"),
        platform.stub(cart_pb2_grpc.CartServiceStub, "cart"),
        platform.stub(payments_pb2_grpc.PaymentsServiceStub, "payments"),
    )


async def _error(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


async def test_checkout_prices_from_catalog_takes_stock_charges_and_clears_cart(shop: Shop) -> None:
    mug, lamp = await shop.product(1099, 10), await shop.product(250, 5)
    who = shop.customer()
    await shop.fill(who, (mug, 2), (lamp, 3))

    order = await shop.checkout(who, method=await _tokenized(shop.platform, "4242424242424242"))

    assert order.status == PAID
    assert [
        (line.product_id, line.quantity, line.unit_price.amount_minor, line.line_total.amount_minor)
        for line in order.lines
    ] == [
        (mug, 2, 1099, 2198),
        (lamp, 3, 250, 750),
    ]
    assert all(line.product_name.startswith("Thing ") for line in order.lines)
    assert (order.subtotal.amount_minor, order.shipping.amount_minor, order.total.amount_minor) == (
        2948,
        0,
        2948,
    )
    assert order.total.currency == "USD"
    assert [(e.from_status, e.to_status) for e in order.events] == [
        (orders_pb2.ORDER_STATUS_UNSPECIFIED, orders_pb2.ORDER_STATUS_PENDING),
        (orders_pb2.ORDER_STATUS_PENDING, PAID),
    ]
    assert await shop.on_hand(mug, lamp) == [8, 2]
    assert await shop.cart_lines(who) == {}

    payment = (
        await shop.payments.GetPayment(payments_pb2.GetPaymentRequest(id=order.payment_id), metadata=who)
    ).payment
    assert payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    assert (payment.amount.amount_minor, payment.order_reference, payment.user_id) == (
        2948,
        f"order:{order.id}",
        order.user_id,
    )
    assert (await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=who)).order == order


async def test_default_payment_method_is_the_test_token(shop: Shop) -> None:
    item = await shop.product(500, 3)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    order = await shop.checkout(who)
    assert order.status == PAID
    payments = await shop.payments_of(order.id)
    assert [(p.status, p.card_last4) for p in payments] == [(payments_pb2.PAYMENT_STATUS_CAPTURED, "4242")]
    await shop.fill(who, (item, 1))
    assert (await shop.checkout(who, method=payments_pb2.PaymentMethod(token=""))).status == PAID


async def test_empty_cart_is_refused(shop: Shop) -> None:
    assert await _error(shop.checkout(shop.customer())) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "cart is empty",
    )


async def test_only_users_check_out(shop: Shop) -> None:
    code, _ = await _error(
        shop.orders.CreateOrder(orders_pb2.CreateOrderRequest(), metadata=bearer(shop.tokens.service("x")))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await _error(shop.orders.CreateOrder(orders_pb2.CreateOrderRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_product_gone_from_the_catalog_is_refused(shop: Shop) -> None:
    kept, gone = await shop.product(100, 5), await shop.product(200, 5)
    who = shop.customer()
    await shop.fill(who, (kept, 1), (gone, 1))
    await shop.catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=gone), metadata=shop.admin)
    assert await _error(shop.checkout(who)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"product {gone} is no longer available",
    )
    assert await shop.cart_lines(who) == {kept: 1, gone: 1}
    assert await shop.on_hand(kept) == [5]


async def test_mixed_currencies_are_refused(shop: Shop) -> None:
    usd, eur = await shop.product(100, 5), await shop.product(100, 5, "EUR")
    who = shop.customer()
    await shop.fill(who, (usd, 1), (eur, 1))
    code, detail = await _error(shop.checkout(who))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "currencies" in detail


async def test_insufficient_stock_changes_nothing(shop: Shop) -> None:
    plenty, scarce = await shop.product(100, 10), await shop.product(300, 1)
    who = shop.customer()
    await shop.fill(who, (plenty, 2), (scarce, 2))

    code, detail = await _error(shop.checkout(who))

    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert detail.startswith("insufficient stock for")
    assert await shop.on_hand(plenty, scarce) == [10, 1]
    assert await shop.cart_lines(who) == {plenty: 2, scarce: 2}
    failed = await shop.latest_order(who)
    assert (failed.status, failed.payment_id) == (FAILED, "")
    assert await shop.payments_of(failed.id) == []


@pytest.mark.parametrize(
    ("card", "code", "detail"),
    [
        ("4000000000000002", grpc.StatusCode.FAILED_PRECONDITION, "card declined"),
        ("4000000000009995", grpc.StatusCode.FAILED_PRECONDITION, "insufficient funds"),
        ("tok_test_declined", grpc.StatusCode.FAILED_PRECONDITION, "card declined"),
        ("4000000000000119", grpc.StatusCode.UNAVAILABLE, "payment provider timed out"),
        ("tok_never_issued", grpc.StatusCode.INVALID_ARGUMENT, "unknown payment token"),
    ],
)
async def test_failed_payment_gives_stock_back_and_keeps_the_cart(
    shop: Shop, card: str, code: grpc.StatusCode, detail: str
) -> None:
    item = await shop.product(999, 4)
    who = shop.customer()
    await shop.fill(who, (item, 3))

    method = await _tokenized(shop.platform, card)
    assert await _error(shop.checkout(who, method=method)) == (code, detail)

    assert await shop.on_hand(item) == [4]
    assert await shop.cart_lines(who) == {item: 3}
    failed = await shop.latest_order(who)
    assert (failed.status, failed.payment_id) == (FAILED, "")
    assert detail in failed.events[-1].note
    # The stock is free again: the same cart checks out with a good card.
    order = await shop.checkout(who)
    assert order.status == PAID
    assert await shop.on_hand(item) == [1]


async def test_card_data_is_refused_before_anything_happens(shop: Shop) -> None:
    item = await shop.product(999, 4)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    card = payments_pb2.PaymentMethod(
        card=payments_pb2.Card(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
    )
    assert await _error(shop.checkout(who, method=card)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "card data is not accepted; tokenize it first",
    )
    assert await shop.on_hand(item) == [4]
    assert await shop.cart_lines(who) == {item: 1}
    listed = await shop.orders.ListOrders(orders_pb2.ListOrdersRequest(), metadata=who)
    assert list(listed.orders) == []


async def test_a_card_token_pays_for_one_order_only(shop: Shop) -> None:
    item = await shop.product(400, 4)
    who = shop.customer()
    method = await _tokenized(shop.platform, "5555555555554444")
    await shop.fill(who, (item, 1))
    paid = await shop.checkout(who, method=method)
    assert paid.status == PAID
    assert [p.card_last4 for p in await shop.payments_of(paid.id)] == ["4444"]
    await shop.fill(who, (item, 1))
    assert await _error(shop.checkout(who, method=method)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "payment token was already used; tokenize the card again",
    )
    assert await shop.cart_lines(who) == {item: 1}
    assert await shop.on_hand(item) == [3]


async def test_same_idempotency_key_returns_the_same_order_and_charges_once(shop: Shop) -> None:
    item = await shop.product(700, 10)
    who = shop.customer()
    await shop.fill(who, (item, 2))
    key = uuid4().hex

    first = await shop.checkout(who, key)
    again = await shop.checkout(who, key)

    assert again.id == first.id
    assert again.status == PAID
    assert again.payment_id == first.payment_id
    assert len(await shop.payments_of(first.id)) == 1
    assert await shop.on_hand(item) == [8]
    # The key belongs to this user only: another user's key of the same value is another order.
    other = shop.customer()
    await shop.fill(other, (item, 1))
    assert (await shop.checkout(other, key)).id != first.id


async def test_concurrent_checkouts_with_one_key_make_one_order(shop: Shop) -> None:
    item = await shop.product(700, 10)
    who = shop.customer()
    await shop.fill(who, (item, 2))
    key = uuid4().hex

    orders = await asyncio.gather(*(shop.checkout(who, key) for _ in range(5)))

    assert len({o.id for o in orders}) == 1
    final = (await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=orders[0].id), metadata=who)).order
    assert final.status == PAID
    assert len(await shop.payments_of(final.id)) == 1
    assert await shop.on_hand(item) == [8]


async def test_cancel_refunds_and_restocks_once(shop: Shop) -> None:
    item = await shop.product(1250, 6)
    who = shop.customer()
    await shop.fill(who, (item, 2))
    order = await shop.checkout(who)
    assert await shop.on_hand(item) == [4]

    cancelled = (
        await shop.orders.CancelOrder(
            orders_pb2.CancelOrderRequest(id=order.id, reason="changed my mind"), metadata=who
        )
    ).order

    assert cancelled.status == CANCELLED
    assert any(e.to_status == CANCELLED and e.note == "changed my mind" for e in cancelled.events)
    assert await shop.on_hand(item) == [6]
    payment = (
        await shop.payments.GetPayment(payments_pb2.GetPaymentRequest(id=order.payment_id), metadata=who)
    ).payment
    assert (payment.status, payment.refunded.amount_minor) == (payments_pb2.PAYMENT_STATUS_REFUNDED, 2500)

    assert await _error(
        shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=who)
    ) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "order cannot be cancelled in status cancelled",
    )
    assert await shop.on_hand(item) == [6]


async def test_concurrent_cancels_refund_once(shop: Shop) -> None:
    item = await shop.product(400, 5)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    order = await shop.checkout(who)

    results = await asyncio.gather(
        *(
            shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=who)
            for _ in range(4)
        ),
        return_exceptions=True,
    )

    assert sum(isinstance(r, orders_pb2.CancelOrderResponse) for r in results) == 1
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert {e.code() for e in errors} == {grpc.StatusCode.FAILED_PRECONDITION}
    payment = (
        await shop.payments.GetPayment(payments_pb2.GetPaymentRequest(id=order.payment_id), metadata=who)
    ).payment
    assert [e.type for e in payment.events].count("refunded") == 1
    assert await shop.on_hand(item) == [5]


async def test_other_customers_cannot_see_or_cancel(shop: Shop) -> None:
    item = await shop.product(100, 5)
    owner, stranger = shop.customer(), shop.customer()
    await shop.fill(owner, (item, 1))
    order = await shop.checkout(owner)

    missing = (grpc.StatusCode.NOT_FOUND, f"order {order.id} not found")
    assert (
        await _error(shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=stranger))
        == missing
    )
    assert (
        await _error(shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=stranger))
        == missing
    )
    assert await _error(shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=10**15), metadata=stranger)) == (
        grpc.StatusCode.NOT_FOUND,
        f"order {10**15} not found",
    )
    theirs = await shop.orders.ListOrders(
        orders_pb2.ListOrdersRequest(user_id=order.user_id), metadata=stranger
    )
    assert order.id not in [o.id for o in theirs.orders]
    assert (
        await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=shop.admin)
    ).order.id == order.id
    assert (
        await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=owner)
    ).order.status == PAID


async def test_list_orders_pages_newest_first_and_admin_filters(shop: Shop) -> None:
    item = await shop.product(100, 50)
    who = shop.customer()
    ids = []
    for _ in range(5):
        await shop.fill(who, (item, 1))
        ids.append((await shop.checkout(who)).id)
    seen: list[int] = []
    token = ""
    while True:
        page = await shop.orders.ListOrders(
            orders_pb2.ListOrdersRequest(page_size=2, page_token=token), metadata=who
        )
        seen += [o.id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))

    user_id = (await shop.latest_order(who)).user_id
    await shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=ids[0]), metadata=who)
    by_admin = await shop.orders.ListOrders(
        orders_pb2.ListOrdersRequest(user_id=user_id, status=CANCELLED), metadata=shop.admin
    )
    assert [o.id for o in by_admin.orders] == [ids[0]]
    everyone = await shop.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=500), metadata=shop.admin)
    assert set(ids) <= {o.id for o in everyone.orders}
    code, _ = await _error(
        shop.orders.ListOrders(orders_pb2.ListOrdersRequest(page_token="%%%"), metadata=who)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_status_follows_the_state_machine(shop: Shop) -> None:
    item = await shop.product(100, 5)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    order = await shop.checkout(who)

    def move(status: orders_pb2.OrderStatus.ValueType, meta: Meta) -> Any:
        return shop.orders.UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status), metadata=meta
        )

    assert (await _error(move(orders_pb2.ORDER_STATUS_SHIPPED, who)))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert (await _error(move(orders_pb2.ORDER_STATUS_DELIVERED, shop.admin)))[
        0
    ] == grpc.StatusCode.FAILED_PRECONDITION
    assert (await _error(move(orders_pb2.ORDER_STATUS_PAID, shop.admin)))[
        0
    ] == grpc.StatusCode.FAILED_PRECONDITION
    assert (await _error(move(orders_pb2.ORDER_STATUS_UNSPECIFIED, shop.admin)))[
        0
    ] == grpc.StatusCode.INVALID_ARGUMENT

    shipped = (await move(orders_pb2.ORDER_STATUS_SHIPPED, bearer(shop.tokens.service("shipping")))).order
    assert shipped.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert shipped.events[-1].actor == "svc:shipping"
    assert await _error(
        shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=who)
    ) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the order is shipped and can no longer be cancelled",
    )
    delivered = (await move(orders_pb2.ORDER_STATUS_DELIVERED, shop.admin)).order
    assert delivered.status == orders_pb2.ORDER_STATUS_DELIVERED

    refunded = (await move(orders_pb2.ORDER_STATUS_REFUNDED, shop.admin)).order
    assert refunded.status == orders_pb2.ORDER_STATUS_REFUNDED
    payment = (
        await shop.payments.GetPayment(payments_pb2.GetPaymentRequest(id=order.payment_id), metadata=who)
    ).payment
    assert payment.status == payments_pb2.PAYMENT_STATUS_REFUNDED
    # Delivered goods come back through returns, not straight onto the shelf.
    assert await shop.on_hand(item) == [4]


async def test_admin_cancel_through_update_status_refunds(shop: Shop) -> None:
    item = await shop.product(100, 5)
    who = shop.customer()
    await shop.fill(who, (item, 2))
    order = await shop.checkout(who)
    reply = await shop.orders.UpdateOrderStatus(
        orders_pb2.UpdateOrderStatusRequest(id=order.id, status=CANCELLED, note="out of business"),
        metadata=shop.admin,
    )
    assert reply.order.status == CANCELLED
    assert await shop.on_hand(item) == [5]


async def test_anonymize_is_for_services(shop: Shop) -> None:
    item = await shop.product(100, 5)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    order = await shop.checkout(who)
    request = orders_pb2.AnonymizeUserOrdersRequest(user_id=order.user_id)
    assert (await _error(shop.orders.AnonymizeUserOrders(request, metadata=who)))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
    reply = await shop.orders.AnonymizeUserOrders(request, metadata=bearer(shop.tokens.service("auth")))
    assert reply.orders_updated == 1


async def test_payments_down_fails_checkout_and_cancel_without_losing_anything(shop: Shop) -> None:
    item = await shop.product(100, 5)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    paid = await shop.checkout(who)
    await shop.fill(who, (item, 2))
    await shop.platform.stop("payments")
    try:
        assert await _error(shop.checkout(who)) == (
            grpc.StatusCode.UNAVAILABLE,
            "payment service unavailable",
        )
        # A cancel that cannot refund changes nothing.
        code, _ = await _error(
            shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=paid.id), metadata=who)
        )
        assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        await shop.platform.start("payments")
        # Let both clients of payments (this test's and the orders service's) reconnect.
        orders_side = shop.platform.running["orders"].runtime.channels.channel("payments")
        await asyncio.wait_for(orders_side.channel_ready(), 10)
        await asyncio.wait_for(shop.platform.channel("payments").channel_ready(), 10)
    assert await shop.on_hand(item) == [4]
    assert await shop.cart_lines(who) == {item: 2}
    failed = await shop.latest_order(who)
    assert failed.status == FAILED
    still = (await shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=paid.id), metadata=who)).order
    assert still.status == PAID
    assert (await shop.checkout(who)).status == PAID
    assert await shop.on_hand(item) == [2]
    cancelled = (await shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=paid.id), metadata=who)).order
    assert cancelled.status == CANCELLED
    assert await shop.on_hand(item) == [3]


async def test_repeating_the_key_of_a_failed_checkout_fails_again(shop: Shop) -> None:
    item = await shop.product(700, 10)
    who = shop.customer()
    await shop.fill(who, (item, 1))
    key = uuid4().hex
    declined = await _tokenized(shop.platform, "4000000000000002")
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await shop.orders.CreateOrder(
                orders_pb2.CreateOrderRequest(idempotency_key=key, payment_method=declined), metadata=who
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await shop.on_hand(item) == [10]
