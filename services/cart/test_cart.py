from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import grpc
import pytest
import redis.asyncio as aioredis

from services.cart.service import Settings, build
from services.kit.config import load
from services.kit.redis import Keys
from services.kit.server import start
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

Stub = cart_pb2_grpc.CartServiceStub
Catalog = catalog_pb2_grpc.CatalogServiceStub
Metadata = tuple[tuple[str, str]]


@pytest.fixture
async def catalog(platform: Platform) -> Catalog:
    await platform.start("catalog")
    return platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")


@pytest.fixture
async def cart(platform: Platform, catalog: Catalog) -> Stub:
    await platform.start("cart")
    return platform.stub(cart_pb2_grpc.CartServiceStub, "cart")


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(platform.redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def _uid() -> int:
    """A user id no other test (or earlier run on a shared Redis) has used."""
    return 10**9 + uuid4().int % 10**12


async def _products(catalog: Catalog, tokens: TokenFactory, count: int = 1) -> list[int]:
    replies = await asyncio.gather(
        *(
            catalog.CreateProduct(
                catalog_pb2.CreateProductRequest(
                    name=f"Thing {uuid4().hex}", price=common_pb2.Money(amount_minor=100, currency="USD")
                ),
                metadata=bearer(tokens.admin()),
            )
            for _ in range(count)
        )
    )
    return [r.product.id for r in replies]


async def _code(call: Awaitable[Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    code: grpc.StatusCode = err.value.code()
    return code


async def _lines(cart: Stub, me: Metadata, user_id: int = 0) -> list[tuple[int, int, int]]:
    reply = await cart.GetCart(cart_pb2.GetCartRequest(user_id=user_id), metadata=me)
    return [(i.item_id, i.product_id, i.quantity) for i in reply.cart.items]


@asynccontextmanager
async def _another_cart(platform: Platform, **overrides: Any) -> AsyncIterator[Stub]:
    """A second cart service on its own port with different settings (same Redis)."""
    settings = load(Settings, service_name="cart", grpc_port=0, **{**platform.env(), **overrides})
    running = await start(settings, build)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield cart_pb2_grpc.CartServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(grace=0)


async def test_add_update_remove_and_clear(cart: Stub, catalog: Catalog, tokens: TokenFactory) -> None:
    a, b = await _products(catalog, tokens, 2)
    uid = _uid()
    me = bearer(tokens.customer(uid))
    first = await cart.AddItem(cart_pb2.AddItemRequest(product_id=a, quantity=2), metadata=me)
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=b, quantity=1), metadata=me)
    # The same product again raises that line's quantity and keeps its item id.
    merged = await cart.AddItem(cart_pb2.AddItemRequest(product_id=a, quantity=3), metadata=me)
    assert (merged.item.item_id, merged.item.product_id, merged.item.quantity) == (first.item.item_id, a, 5)
    reply = await cart.GetCart(cart_pb2.GetCartRequest(), metadata=me)
    assert reply.cart.user_id == uid
    assert await _lines(cart, me) == [(1, a, 5), (2, b, 1)]

    updated = await cart.UpdateItem(cart_pb2.UpdateItemRequest(item_id=1, quantity=7), metadata=me)
    assert (updated.item.item_id, updated.item.product_id, updated.item.quantity) == (1, a, 7)
    await cart.UpdateItem(cart_pb2.UpdateItemRequest(item_id=2, quantity=0), metadata=me)  # 0 removes
    assert await _lines(cart, me) == [(1, a, 7)]
    await cart.RemoveItem(cart_pb2.RemoveItemRequest(item_id=1), metadata=me)
    assert await _lines(cart, me) == []

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await cart.RemoveItem(cart_pb2.RemoveItemRequest(item_id=1), metadata=me)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND, "item 1 not in cart")
    code = await _code(cart.UpdateItem(cart_pb2.UpdateItemRequest(item_id=2, quantity=1), metadata=me))
    assert code == grpc.StatusCode.NOT_FOUND

    # A removed product comes back as a new line; item ids are never reused, not even after a clear.
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=a, quantity=1), metadata=me)
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=b, quantity=1), metadata=me)
    assert await _lines(cart, me) == [(3, a, 1), (4, b, 1)]
    await cart.ClearCart(cart_pb2.ClearCartRequest(), metadata=me)
    assert await _lines(cart, me) == []
    again = await cart.AddItem(cart_pb2.AddItemRequest(product_id=b, quantity=1), metadata=me)
    assert again.item.item_id == 5


async def test_items_are_json_in_a_redis_hash_that_expires(
    cart: Stub, catalog: Catalog, tokens: TokenFactory, platform: Platform, redis: aioredis.Redis
) -> None:
    (pid,) = await _products(catalog, tokens)
    uid = _uid()
    me = bearer(tokens.customer(uid))
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=4), metadata=me)
    keys = Keys(platform.redis_prefix, "cart")
    assert json.loads(await redis.hget(keys("cart", uid), "1") or "") == {"product_id": pid, "quantity": 4}
    thirty_days = 30 * 24 * 3600
    cart_keys = [keys("cart", uid), keys("cart", uid, "seq"), keys("cart", uid, "products")]
    for key in cart_keys:
        assert thirty_days - 60 < await redis.ttl(key) <= thirty_days
        await redis.expire(key, 100)
    # Every write starts the clock again.
    await cart.UpdateItem(cart_pb2.UpdateItemRequest(item_id=1, quantity=5), metadata=me)
    for key in cart_keys:
        assert await redis.ttl(key) > thirty_days - 60


async def test_cart_ttl_comes_from_settings(
    platform: Platform, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    me = bearer(tokens.customer(_uid()))
    async with _another_cart(platform, cart_ttl_seconds=1) as short_lived:
        await short_lived.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=1), metadata=me)
        assert len(await _lines(short_lived, me)) == 1
        await asyncio.sleep(1.5)
        assert await _lines(short_lived, me) == []


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("AddItem", cart_pb2.AddItemRequest(product_id=1, quantity=0)),
        ("AddItem", cart_pb2.AddItemRequest(product_id=1, quantity=100)),
        ("AddItem", cart_pb2.AddItemRequest(product_id=1, quantity=-1)),
        ("AddItem", cart_pb2.AddItemRequest(product_id=0, quantity=1)),
        ("AddItem", cart_pb2.AddItemRequest(product_id=-5, quantity=1)),
        ("UpdateItem", cart_pb2.UpdateItemRequest(item_id=1, quantity=100)),
        ("UpdateItem", cart_pb2.UpdateItemRequest(item_id=1, quantity=-1)),
        ("UpdateItem", cart_pb2.UpdateItemRequest(item_id=0, quantity=1)),
        ("RemoveItem", cart_pb2.RemoveItemRequest(item_id=0)),
        ("RemoveItem", cart_pb2.RemoveItemRequest(item_id=-3)),
    ],
)
async def test_bad_input_is_invalid_argument(
    cart: Stub, tokens: TokenFactory, method: str, request_: Any
) -> None:
    call = getattr(cart, method)
    assert (
        await _code(call(request_, metadata=bearer(tokens.customer(_uid()))))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_quantity_stays_within_99_after_merging(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    me = bearer(tokens.customer(_uid()))
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=60), metadata=me)
    code = await _code(cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=40), metadata=me))
    # A valid quantity the line cannot take as it stands: a conflict (409 over REST), not bad input.
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert await _lines(cart, me) == [(1, pid, 60)]
    reply = await cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=39), metadata=me)
    assert reply.item.quantity == 99


async def test_unknown_or_deleted_product_is_not_found(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    await catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=pid), metadata=bearer(tokens.admin()))
    me = bearer(tokens.customer(_uid()))
    for missing in (pid, 10**15 + uuid4().int % 10**12):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await cart.AddItem(cart_pb2.AddItemRequest(product_id=missing, quantity=1), metadata=me)
        assert (err.value.code(), err.value.details()) == (
            grpc.StatusCode.NOT_FOUND,
            f"product {missing} not found",
        )
    assert await _lines(cart, me) == []


async def test_catalog_down_is_unavailable(
    platform: Platform, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    me = bearer(tokens.customer(_uid()))
    async with _another_cart(platform, catalog_addr=f"127.0.0.1:{free_port()}") as orphan:
        code = await _code(orphan.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=1), metadata=me))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert await _lines(orphan, me) == []


async def test_a_cart_holds_at_most_50_lines(cart: Stub, catalog: Catalog, tokens: TokenFactory) -> None:
    products = await _products(catalog, tokens, 56)
    me = bearer(tokens.customer(_uid()))
    for pid in products[:45]:
        await cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=1), metadata=me)
    # Racing for the last five lines: exactly five win.
    results = await asyncio.gather(
        *(
            cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=1), metadata=me)
            for pid in products[45:55]
        ),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(lost) == 5
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in lost)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await cart.AddItem(cart_pb2.AddItemRequest(product_id=products[55], quantity=1), metadata=me)
    assert (err.value.code(), err.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "cart is full",
    )
    assert len(await _lines(cart, me)) == 50
    # A product already in the cart can still be raised.
    reply = await cart.AddItem(cart_pb2.AddItemRequest(product_id=products[0], quantity=2), metadata=me)
    assert reply.item.quantity == 3


async def test_concurrent_adds_of_one_product_sum_up_in_one_line(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    me = bearer(tokens.customer(_uid()))
    quantities = [i % 4 + 1 for i in range(20)]
    replies = await asyncio.gather(
        *(cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=q), metadata=me) for q in quantities)
    )
    assert {r.item.item_id for r in replies} == {1}
    assert max(r.item.quantity for r in replies) == sum(quantities)
    assert await _lines(cart, me) == [(1, pid, sum(quantities))]


async def test_concurrent_adds_of_different_products_get_distinct_items(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    products = await _products(catalog, tokens, 10)
    me = bearer(tokens.customer(_uid()))
    await asyncio.gather(
        *(cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=1), metadata=me) for pid in products)
    )
    lines = await _lines(cart, me)
    assert [item_id for item_id, _, _ in lines] == list(range(1, 11))
    assert sorted(pid for _, pid, _ in lines) == sorted(products)


async def test_customers_reach_only_their_own_cart(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    (pid,) = await _products(catalog, tokens)
    owner, intruder = _uid(), _uid()
    mine = bearer(tokens.customer(owner))
    await cart.AddItem(cart_pb2.AddItemRequest(product_id=pid, quantity=2), metadata=mine)
    theirs = bearer(tokens.customer(intruder))
    for call in (
        cart.GetCart(cart_pb2.GetCartRequest(user_id=owner), metadata=theirs),
        cart.AddItem(cart_pb2.AddItemRequest(user_id=owner, product_id=pid, quantity=1), metadata=theirs),
        cart.UpdateItem(cart_pb2.UpdateItemRequest(user_id=owner, item_id=1, quantity=9), metadata=theirs),
        cart.RemoveItem(cart_pb2.RemoveItemRequest(user_id=owner, item_id=1), metadata=theirs),
        cart.ClearCart(cart_pb2.ClearCartRequest(user_id=owner), metadata=theirs),
    ):
        assert await _code(call) == grpc.StatusCode.PERMISSION_DENIED
    assert await _lines(cart, mine) == [(1, pid, 2)]
    # Naming yourself is fine; your own cart is a different one.
    assert await _lines(cart, theirs, intruder) == []
    assert await _lines(cart, mine, owner) == [(1, pid, 2)]


async def test_services_name_the_user(cart: Stub, catalog: Catalog, tokens: TokenFactory) -> None:
    (pid,) = await _products(catalog, tokens)
    uid = _uid()
    orders = bearer(tokens.service("orders"))
    await cart.AddItem(cart_pb2.AddItemRequest(user_id=uid, product_id=pid, quantity=3), metadata=orders)
    assert await _lines(cart, bearer(tokens.customer(uid))) == [(1, pid, 3)]
    assert await _lines(cart, orders, uid) == [(1, pid, 3)]
    # A service must say whose cart it means.
    assert (
        await _code(cart.GetCart(cart_pb2.GetCartRequest(), metadata=orders))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    await cart.ClearCart(cart_pb2.ClearCartRequest(user_id=uid), metadata=orders)
    assert await _lines(cart, orders, uid) == []


@pytest.mark.parametrize(
    "request_",
    [
        cart_pb2.GetCartRequest(),
        cart_pb2.AddItemRequest(product_id=1, quantity=1),
        cart_pb2.UpdateItemRequest(item_id=1, quantity=1),
        cart_pb2.RemoveItemRequest(item_id=1),
        cart_pb2.ClearCartRequest(),
    ],
)
async def test_anonymous_and_bad_tokens_are_unauthenticated(
    cart: Stub, tokens: TokenFactory, request_: Any
) -> None:
    call = getattr(cart, type(request_).__name__.removesuffix("Request"))
    assert await _code(call(request_)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(call(request_, metadata=bearer(tokens.expired(5)))) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(call(request_, metadata=bearer(tokens.foreign(5)))) == grpc.StatusCode.UNAUTHENTICATED


def _guest() -> str:
    return uuid4().hex


async def test_guest_carts_are_for_internal_callers_and_keep_to_their_guest(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    (product,) = await _products(catalog, tokens)
    gateway = bearer(tokens.service("gateway"))
    guest = _guest()
    added = await cart.AddItem(
        cart_pb2.AddItemRequest(guest_id=guest, product_id=product, quantity=2), metadata=gateway
    )
    reply = await cart.GetCart(cart_pb2.GetCartRequest(guest_id=guest), metadata=gateway)
    assert [(i.product_id, i.quantity) for i in reply.cart.items] == [(product, 2)]
    assert reply.cart.user_id == 0
    other = await cart.GetCart(cart_pb2.GetCartRequest(guest_id=_guest()), metadata=gateway)
    assert list(other.cart.items) == []
    shopper = bearer(tokens.customer(_uid()))
    assert await _code(cart.GetCart(cart_pb2.GetCartRequest(guest_id=guest), metadata=shopper)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    for bad in ("short", "x" * 65, "has space in it ok", "../../etc/passwd-123"):
        request = cart_pb2.GetCartRequest(guest_id=bad)
        assert await _code(cart.GetCart(request, metadata=gateway)) == grpc.StatusCode.INVALID_ARGUMENT
    both = cart_pb2.GetCartRequest(guest_id=guest, user_id=_uid())
    assert await _code(cart.GetCart(both, metadata=gateway)) == grpc.StatusCode.INVALID_ARGUMENT
    await cart.RemoveItem(
        cart_pb2.RemoveItemRequest(guest_id=guest, item_id=added.item.item_id), metadata=gateway
    )
    assert (
        list((await cart.GetCart(cart_pb2.GetCartRequest(guest_id=guest), metadata=gateway)).cart.items) == []
    )


async def test_merging_adds_quantities_per_product_capped_at_the_line_maximum(
    cart: Stub, catalog: Catalog, tokens: TokenFactory
) -> None:
    shared, guest_only, user_only, near_cap = await _products(catalog, tokens, 4)
    gateway = bearer(tokens.service("gateway"))
    user_id, guest = _uid(), _guest()
    me = bearer(tokens.customer(user_id))
    for product, quantity in ((shared, 2), (user_only, 1), (near_cap, 95)):
        await cart.AddItem(cart_pb2.AddItemRequest(product_id=product, quantity=quantity), metadata=me)
    for product, quantity in ((shared, 3), (guest_only, 4), (near_cap, 10)):
        await cart.AddItem(
            cart_pb2.AddItemRequest(guest_id=guest, product_id=product, quantity=quantity), metadata=gateway
        )
    before = await cart.GetCart(cart_pb2.GetCartRequest(), metadata=me)
    customer_merge = cart.MergeCart(cart_pb2.MergeCartRequest(guest_id=guest, user_id=user_id), metadata=me)
    assert await _code(customer_merge) == grpc.StatusCode.PERMISSION_DENIED
    reply = await cart.MergeCart(cart_pb2.MergeCartRequest(guest_id=guest, user_id=user_id), metadata=gateway)
    merged = {i.product_id: i.quantity for i in reply.cart.items}
    assert merged == {shared: 5, user_only: 1, near_cap: 99, guest_only: 4}
    assert reply.cart.version != before.cart.version  # a changed cart is a new checkout
    # The user's lines keep their item ids; the guest cart is gone, so a second merge adds nothing.
    assert {i.item_id for i in before.cart.items} <= {i.item_id for i in reply.cart.items}
    again = await cart.MergeCart(cart_pb2.MergeCartRequest(guest_id=guest, user_id=user_id), metadata=gateway)
    assert {i.product_id: i.quantity for i in again.cart.items} == merged
    assert (
        list((await cart.GetCart(cart_pb2.GetCartRequest(guest_id=guest), metadata=gateway)).cart.items) == []
    )
