"""/api/guest-cart: a cart before signing in, beside the documented /api/cart (which still needs a
token). The guest is an opaque id in the httpOnly `shop_guest` cookie, set by the first add; the
cart service keeps the lines and merges them into the account's cart at browser sign-in
(POST /api/auth/session/). The gateway calls the cart service with its own service token.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from gateway import sessions
from gateway.errors import ApiError
from gateway.models import Message
from gateway.routes.cart import CartContents, CartLine, ItemAdded, NewItem
from gateway.routing import Ctx, Route
from gateway.sessions import GUEST_COOKIE, GUEST_TTL_SECONDS
from shop.cart.v1 import cart_pb2


def _guest(ctx: Ctx) -> str | None:
    return sessions.policy_of(ctx.request).read(ctx.request, GUEST_COOKIE)


async def get_guest_cart(ctx: Ctx) -> CartContents:
    guest = _guest(ctx)
    if not guest:
        return CartContents({})
    reply = await ctx.upstreams.cart.GetCart(
        cart_pb2.GetCartRequest(guest_id=guest), metadata=await ctx.gateway_metadata()
    )
    return CartContents(
        {str(i.item_id): CartLine(product_id=i.product_id, quantity=i.quantity) for i in reply.cart.items}
    )


async def add_guest_item(ctx: Ctx) -> ItemAdded:
    sessions.require_same_origin(ctx.request)
    body = ctx.body(NewItem)
    guest = _guest(ctx)
    if not guest:
        guest = secrets.token_urlsafe(24)
        request, policy = ctx.request, sessions.policy_of(ctx.request)
        new_guest = guest

        def finish(response: web.StreamResponse) -> None:
            policy.set(response, request, GUEST_COOKIE, new_guest, GUEST_TTL_SECONDS)

        ctx.finish.append(finish)
    reply = await ctx.upstreams.cart.AddItem(
        cart_pb2.AddItemRequest(guest_id=guest, product_id=body.product_id, quantity=body.quantity),
        metadata=await ctx.gateway_metadata(),
    )
    ctx.record("cart_added", product_id=body.product_id, quantity=body.quantity)
    return ItemAdded(item_id=reply.item.item_id, message="Item added to cart")


async def remove_guest_item(ctx: Ctx) -> Message:
    sessions.require_same_origin(ctx.request)
    guest = _guest(ctx)
    if guest:
        await ctx.upstreams.cart.RemoveItem(
            cart_pb2.RemoveItemRequest(guest_id=guest, item_id=ctx.id("item_id")),
            metadata=await ctx.gateway_metadata(),
        )
        return Message(message="Item removed from cart")
    raise ApiError(404, f"item {ctx.id('item_id')} not in cart")


TAGS = ("cart",)
ROUTES = [
    Route(
        "GET",
        "/guest-cart/",
        get_guest_cart,
        "The guest's cart (before signing in)",
        TAGS,
        response=CartContents,
    ),
    Route(
        "POST",
        "/guest-cart/",
        add_guest_item,
        "Add a product to the guest's cart (sets the guest cookie)",
        TAGS,
        request=NewItem,
        response=ItemAdded,
        status=201,
        errors=(403, 404, 409),
    ),
    Route(
        "DELETE",
        "/guest-cart/{item_id}",
        remove_guest_item,
        "Remove a line from the guest's cart",
        TAGS,
        response=Message,
        errors=(403,),
    ),
]
