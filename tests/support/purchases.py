"""Real purchases for tests of other services: a stocked product, a paid order made through the
orders service (cart, stock, test payment), its cancellation."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import grpc

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

# What a checkout needs running.
SHOPPING = ("auth", "catalog", "inventory", "cart", "payments", "orders")


class Purchases:
    def __init__(self, platform: Platform, tokens: TokenFactory) -> None:
        self.platform = platform
        self.tokens = tokens

    async def start(self) -> None:
        for name in SHOPPING:
            await self.platform.start(name)

    async def product(self, cents: int = 1500, stock: int = 100) -> int:
        """A new catalog product with `stock` units on hand."""
        await self.start()
        admin = bearer(self.tokens.admin())
        reply = await self.platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog").CreateProduct(
            catalog_pb2.CreateProductRequest(
                name=f"Bought {uuid4().hex[:8]}", price=common_pb2.Money(amount_minor=cents, currency="USD")
            ),
            metadata=admin,
        )
        product_id: int = reply.product.id
        await self.platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory").SetStock(
            inventory_pb2.SetStockRequest(product_id=product_id, on_hand=stock), metadata=admin
        )
        return product_id

    async def buy(self, user_id: int, *product_ids: int) -> orders_pb2.Order:
        """Checks out one unit of each product as the user; the order is paid."""
        await self.start()
        who = bearer(self.tokens.customer(user_id))
        cart = self.platform.stub(cart_pb2_grpc.CartServiceStub, "cart")
        for product_id in product_ids:
            await cart.AddItem(cart_pb2.AddItemRequest(product_id=product_id, quantity=1), metadata=who)
        orders = self.platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
        # In one test process the services share gRPC subchannels: a service started after another
        # one already tried to reach it can be UNAVAILABLE until the reconnect backoff (<= 2 s) ends.
        # A failed checkout leaves the cart as it was; its key is spent, so each try has its own.
        async with asyncio.timeout(15):
            while True:
                try:
                    request = orders_pb2.CreateOrderRequest(idempotency_key=uuid4().hex)
                    reply = await orders.CreateOrder(request, metadata=who)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                await asyncio.sleep(0.2)
        order: orders_pb2.Order = reply.order
        assert order.status == orders_pb2.ORDER_STATUS_PAID, order
        return order

    async def cancel(self, order: orders_pb2.Order) -> None:
        reply = await self.platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders").CancelOrder(
            orders_pb2.CancelOrderRequest(id=order.id, reason="test"),
            metadata=bearer(self.tokens.customer(order.user_id)),
        )
        assert reply.order.status == orders_pb2.ORDER_STATUS_CANCELLED, reply.order

    async def set_status(self, order: orders_pb2.Order, status: orders_pb2.OrderStatus.ValueType) -> None:
        await self.platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders").UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status),
            metadata=bearer(self.tokens.admin()),
        )
