"""/api/inventory: stock levels (admin)."""

from __future__ import annotations

from pydantic import RootModel

from gateway.models import Count, Message, RequestBody
from gateway.routing import Ctx, Route
from shop.inventory.v1 import inventory_pb2

PAGE_SIZE = 500
# A guard against a service that never stops paging.
MAX_PAGES = 10_000


class StockUpdate(RequestBody):
    stock: Count


class StockLevels(RootModel[dict[str, int]]):
    """Available units by product id."""


async def list_stock(ctx: Ctx) -> StockLevels:
    levels: dict[str, int] = {}
    token = ""
    for _ in range(MAX_PAGES):
        reply = await ctx.upstreams.inventory.ListStock(
            inventory_pb2.ListStockRequest(page_size=PAGE_SIZE, page_token=token), metadata=ctx.metadata
        )
        levels.update({str(level.product_id): level.available for level in reply.levels})
        if not reply.next_page_token or reply.next_page_token == token:
            break
        token = reply.next_page_token
    return StockLevels(levels)


async def set_stock(ctx: Ctx) -> Message:
    body = ctx.body(StockUpdate)
    await ctx.upstreams.inventory.SetStock(
        inventory_pb2.SetStockRequest(
            product_id=ctx.id("product_id"), on_hand=body.stock, reason="set through the API"
        ),
        metadata=ctx.metadata,
    )
    return Message(message="Stock updated")


TAGS = ("inventory",)
ROUTES = [
    Route(
        "GET",
        "/inventory/",
        list_stock,
        "Available stock of every product",
        TAGS,
        auth="admin",
        response=StockLevels,
    ),
    Route(
        "PUT",
        "/inventory/{product_id}/",
        set_stock,
        "Set a product's stock on hand",
        TAGS,
        auth="admin",
        request=StockUpdate,
        response=Message,
        errors=(404,),
    ),
]
