"""/api/cart: the signed-in user's cart."""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel

from gateway.models import Id, Message, RequestBody
from gateway.routing import Ctx, Route
from shop.cart.v1 import cart_pb2


class NewItem(RequestBody):
    product_id: Id
    quantity: int = Field(ge=1, le=99, description="Per line, at most 99")


class ItemAdded(BaseModel):
    item_id: int
    message: str


class CartLine(BaseModel):
    product_id: int
    quantity: int


class CartContents(RootModel[dict[str, CartLine]]):
    """The cart's lines by item id."""


async def add_item(ctx: Ctx) -> ItemAdded:
    body = ctx.body(NewItem)
    reply = await ctx.upstreams.cart.AddItem(
        cart_pb2.AddItemRequest(product_id=body.product_id, quantity=body.quantity), metadata=ctx.metadata
    )
    ctx.record(
        "cart_added",
        product_id=body.product_id,
        quantity=body.quantity,
        attributes={"item_id": str(reply.item.item_id)},
    )
    return ItemAdded(item_id=reply.item.item_id, message="Item added to cart")


async def get_cart(ctx: Ctx) -> CartContents:
    reply = await ctx.upstreams.cart.GetCart(cart_pb2.GetCartRequest(), metadata=ctx.metadata)
    return CartContents(
        {str(i.item_id): CartLine(product_id=i.product_id, quantity=i.quantity) for i in reply.cart.items}
    )


async def remove_item(ctx: Ctx) -> Message:
    item_id = ctx.id("item_id")
    reply = await ctx.upstreams.cart.RemoveItem(
        cart_pb2.RemoveItemRequest(item_id=item_id), metadata=ctx.metadata
    )
    ctx.record("cart_removed", product_id=reply.product_id, attributes={"item_id": str(item_id)})
    return Message(message="Item removed from cart")


TAGS = ("cart",)
ROUTES = [
    Route(
        "POST",
        "/cart/",
        add_item,
        "Add a product to the cart (adds up if already there)",
        TAGS,
        auth="user",
        request=NewItem,
        response=ItemAdded,
        status=201,
        errors=(404, 409),
    ),
    Route("GET", "/cart/", get_cart, "The cart's contents", TAGS, auth="user", response=CartContents),
    Route(
        "DELETE",
        "/cart/{item_id}",
        remove_item,
        "Remove a line from the cart",
        TAGS,
        auth="user",
        response=Message,
    ),
]
