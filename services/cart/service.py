"""The cart's gRPC servicer: resolves whose cart, validates, asks the catalog whether a product
exists, and calls the Redis store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import grpc
from pydantic import Field

from services.kit import principal
from services.kit.catalog_client import require_product
from services.kit.config import ServiceSettings
from services.kit.errors import invalid
from services.kit.server import Registration, Runtime
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2_grpc

from . import domain, metrics
from .domain import CartError
from .store import CartStore, Item, Owner


class Settings(ServiceSettings):
    # A cart untouched this long disappears; every change starts the clock again.
    cart_ttl_seconds: int = Field(default=domain.DEFAULT_TTL_SECONDS, gt=0)


def _owner(user_id: int, guest_id: str) -> Owner:
    """Whose cart a request names: a guest's (internal callers only), or a user's as usual."""
    if not guest_id:
        return principal.acting_user_id(user_id)
    principal.require_service()
    if user_id:
        raise invalid("name a user_id or a guest_id, not both")
    return domain.guest_owner(guest_id)


def _item(item: Item) -> cart_pb2.CartItem:
    return cart_pb2.CartItem(item_id=item.item_id, product_id=item.product_id, quantity=item.quantity)


def _cart(owner: Owner, items: list[Item], version: str) -> cart_pb2.Cart:
    user_id = owner if isinstance(owner, int) else 0
    return cart_pb2.Cart(user_id=user_id, items=[_item(i) for i in items], version=version)


class CartServicer(cart_pb2_grpc.CartServiceServicer):
    def __init__(self, store: CartStore, catalog: catalog_pb2_grpc.CatalogServiceAsyncStub) -> None:
        self._store = store
        self._catalog = catalog

    async def _require_product(self, product_id: int) -> None:
        await require_product(self._catalog, product_id, CartError.PRODUCT_NOT_FOUND)

    async def GetCart(
        self, request: cart_pb2.GetCartRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.GetCartResponse:
        user_id = _owner(request.user_id, request.guest_id)
        items, version = await self._store.items(user_id)
        return cart_pb2.GetCartResponse(cart=_cart(user_id, items, version))

    async def AddItem(
        self, request: cart_pb2.AddItemRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.AddItemResponse:
        user_id = _owner(request.user_id, request.guest_id)
        product_id = domain.product_id(request.product_id)
        quantity = domain.quantity(request.quantity)
        await self._require_product(product_id)
        item = await self._store.add(user_id, product_id, quantity)
        metrics.added(quantity)
        return cart_pb2.AddItemResponse(item=_item(item))

    async def UpdateItem(
        self, request: cart_pb2.UpdateItemRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.UpdateItemResponse:
        user_id = _owner(request.user_id, request.guest_id)
        item = await self._store.set_quantity(
            user_id, domain.item_id(request.item_id), domain.quantity(request.quantity, allow_zero=True)
        )
        return cart_pb2.UpdateItemResponse(item=_item(item))

    async def RemoveItem(
        self, request: cart_pb2.RemoveItemRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.RemoveItemResponse:
        user_id = _owner(request.user_id, request.guest_id)
        removed = await self._store.set_quantity(user_id, domain.item_id(request.item_id), 0)
        return cart_pb2.RemoveItemResponse(product_id=removed.product_id)

    async def ClearCart(
        self, request: cart_pb2.ClearCartRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.ClearCartResponse:
        user_id = _owner(request.user_id, request.guest_id)
        await self._store.clear(user_id)
        return cart_pb2.ClearCartResponse()

    async def DeleteUserCart(
        self, request: cart_pb2.DeleteUserCartRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.DeleteUserCartResponse:
        principal.require_service_for(request.user_id)
        await self._store.forget(request.user_id)
        return cart_pb2.DeleteUserCartResponse()

    async def MergeCart(
        self, request: cart_pb2.MergeCartRequest, context: grpc.aio.ServicerContext
    ) -> cart_pb2.MergeCartResponse:
        principal.require_service_for(request.user_id)
        await self._store.merge(domain.guest_owner(request.guest_id), request.user_id)
        items, version = await self._store.items(request.user_id)
        return cart_pb2.MergeCartResponse(cart=_cart(request.user_id, items, version))


async def build(runtime: Runtime) -> Sequence[Registration]:
    settings = runtime.settings_as(Settings)
    store = CartStore(runtime.redis(), runtime.redis_keys(), settings.cart_ttl_seconds)
    # The stub is built on an aio channel; Channels.stub's signature makes mypy pick the sync type.
    catalog = cast(
        "catalog_pb2_grpc.CatalogServiceAsyncStub",
        runtime.channels.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
    )
    return [
        Registration(
            CartServicer(store, catalog),
            cart_pb2_grpc.add_CartServiceServicer_to_server,
            cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name,
        )
    ]
