"""/api/inventory: stock levels (admin)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, RootModel

from gateway.models import Message, QueryParams, RequestBody, Stock
from gateway.routing import Ctx, Route
from shop.inventory.v1 import inventory_pb2

PAGE_SIZE = 500
# A guard against a service that never stops paging.
MAX_PAGES = 10_000


class StockUpdate(RequestBody):
    stock: Stock


class StockLevels(RootModel[dict[str, int]]):
    """Available units by product id."""


class PageQuery(QueryParams):
    page_size: int = Field(default=50, ge=1, le=500)
    page_token: str = Field(default="", max_length=1000)


class LowStockItem(BaseModel):
    product_id: int
    on_hand: int
    reserved: int
    available: int = Field(description="on_hand - reserved")
    low_stock_threshold: int


class LowStockList(BaseModel):
    """Products whose available stock is at or below their low-stock threshold."""

    products: list[LowStockItem]
    next_page_token: str | None


class MovementOut(BaseModel):
    id: int
    product_id: int
    delta: int = Field(description="Positive: stock added; negative: stock taken")
    resulting_on_hand: int
    reason: str
    reference: str
    actor: str
    created_at: datetime


class MovementList(BaseModel):
    """Newest first."""

    movements: list[MovementOut]
    next_page_token: str | None


async def list_low_stock(ctx: Ctx) -> LowStockList:
    query = ctx.query(PageQuery)
    reply = await ctx.upstreams.inventory.ListLowStock(
        inventory_pb2.ListLowStockRequest(page_size=query.page_size, page_token=query.page_token),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return LowStockList(
        products=[
            LowStockItem(
                product_id=level.product_id,
                on_hand=level.on_hand,
                reserved=level.reserved,
                available=level.available,
                low_stock_threshold=level.low_stock_threshold,
            )
            for level in reply.levels
        ],
        next_page_token=reply.next_page_token or None,
    )


async def list_movements(ctx: Ctx) -> MovementList:
    query = ctx.query(PageQuery)
    reply = await ctx.upstreams.inventory.ListMovements(
        inventory_pb2.ListMovementsRequest(
            product_id=ctx.id("product_id"), page_size=query.page_size, page_token=query.page_token
        ),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return MovementList(
        movements=[
            MovementOut(
                id=m.id,
                product_id=m.product_id,
                delta=m.delta,
                resulting_on_hand=m.resulting_on_hand,
                reason=m.reason,
                reference=m.reference,
                actor=m.actor,
                created_at=m.create_time.ToDatetime(tzinfo=UTC),
            )
            for m in reply.movements
        ],
        next_page_token=reply.next_page_token or None,
    )


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
    Route(
        "GET",
        "/inventory/low-stock/",
        list_low_stock,
        "Products at or below their low-stock threshold",
        TAGS,
        auth="admin",
        response=LowStockList,
        query=PageQuery,
        paged=True,
    ),
    Route(
        "GET",
        "/inventory/{product_id}/movements/",
        list_movements,
        "A product's stock movements, newest first",
        TAGS,
        auth="admin",
        response=MovementList,
        query=PageQuery,
        paged=True,
    ),
]
