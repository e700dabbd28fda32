"""/api/products: the catalog, with each product's available stock from inventory and rating from reviews."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import grpc
from pydantic import BaseModel, Field, RootModel, StrictStr

from gateway import money
from gateway.errors import INTERNAL_ERROR, ApiError, UpstreamError
from gateway.models import Amount, Message, Patch, Price, QueryParams, RequestBody, Stock
from gateway.product_cache import Answer, cached, serialized
from gateway.routing import NEXT_PAGE_HEADER, Ctx, JsonBody, Route
from services.kit.clients import unreachable
from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2
from shop.reviews.v1 import reviews_pb2

MAX_NAME = 200


class NewProduct(RequestBody):
    name: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    price: Price
    description: StrictStr = ""
    stock: Stock | None = Field(default=None, description="Units on hand; left unset when omitted")


class ProductChanges(Patch):
    name: StrictStr = Field(default="", min_length=1, max_length=MAX_NAME)
    price: Price = 0.0
    description: StrictStr = ""
    stock: Stock = 0


class ProductCreated(BaseModel):
    id: int
    message: str


class ProductSummary(BaseModel):
    name: str
    price: Amount
    description: str
    stock: int


class Rating(BaseModel):
    average: float = Field(examples=[4.5])
    count: int = Field(examples=[2])
    histogram: list[int] = Field(
        examples=[[0, 0, 0, 1, 1]], description="Visible reviews with 1, 2, 3, 4 and 5 stars"
    )


# null while the reviews service is unavailable: the products are still served.
MaybeRating = Rating | None


class RatedProductSummary(ProductSummary):
    rating: MaybeRating


class Product(BaseModel):
    id: int
    name: str
    price: Amount
    description: str
    stock: int
    rating: MaybeRating


class ProductPage(RootModel[dict[str, ProductSummary | RatedProductSummary]]):
    """Products of one page by id, in catalog order; with `include=rating`, each with its rating."""


class ProductQuery(QueryParams):
    q: str = Field(default="", max_length=200, description="Text search over name and description")
    page_size: int = Field(default=100, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)
    include: Literal["rating"] | None = Field(default=None, description="Add each product's rating")


async def _ratings(ctx: Ctx, product_ids: Sequence[int]) -> dict[int, Rating] | None:
    """Rating summaries of many products in one call; None while reviews is unavailable."""
    if not product_ids:
        return {}
    try:
        reply = await ctx.upstreams.reviews.BatchGetRatingSummaries(
            reviews_pb2.BatchGetRatingSummariesRequest(product_ids=list(product_ids)), metadata=ctx.metadata
        )
    except UpstreamError as exc:
        if unreachable(exc.code):
            return None
        raise
    return {
        s.product_id: Rating(average=s.average, count=s.count, histogram=list(s.histogram))
        for s in reply.summaries
    }


async def _available(ctx: Ctx, product_ids: Sequence[int]) -> dict[int, int]:
    """Available stock per product, in one call, as the gateway (stock reads are not public)."""
    if not product_ids:
        return {}
    try:
        reply = await ctx.upstreams.inventory.BatchGetStock(
            inventory_pb2.BatchGetStockRequest(product_ids=list(product_ids)),
            metadata=await ctx.gateway_metadata(),
        )
    except UpstreamError as exc:
        if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            # Not the caller's fault: the gateway's own identity was refused.
            raise ApiError(500, INTERNAL_ERROR) from exc
        raise
    return {level.product_id: level.available for level in reply.levels}


def _summary(product: catalog_pb2.Product, stock: int) -> ProductSummary:
    return ProductSummary(
        name=product.name, price=money.from_proto(product.price), description=product.description, stock=stock
    )


async def create_product(ctx: Ctx) -> ProductCreated:
    body = ctx.body(NewProduct)
    request = catalog_pb2.CreateProductRequest(
        name=body.name,
        description=body.description,
        price=money.to_proto(body.price, ctx.settings.currency),
    )
    if body.stock is not None:
        # The catalog sets it in inventory, and takes the product back out if it cannot.
        request.stock = body.stock
    reply = await ctx.upstreams.catalog.CreateProduct(request, metadata=ctx.metadata)
    return ProductCreated(id=reply.product.id, message="Product added")


async def list_products(ctx: Ctx) -> JsonBody:
    query = ctx.query(ProductQuery)
    answer = await cached(ctx, lambda: _product_page(ctx, query))
    if query.q and not query.page_token:
        ctx.record("searched", query=query.q, attributes={"results": str(answer.results)})
    return JsonBody(content=answer.body)


async def _product_page(ctx: Ctx, query: ProductQuery) -> Answer:
    reply = await ctx.upstreams.catalog.ListProducts(
        catalog_pb2.ListProductsRequest(
            page_size=query.page_size, page_token=query.page_token, query=query.q
        ),
        metadata=ctx.metadata,
    )
    ids = [p.id for p in reply.products]
    headers = {NEXT_PAGE_HEADER: reply.next_page_token} if reply.next_page_token else {}
    if query.include == "rating":
        stock, ratings = await asyncio.gather(_available(ctx, ids), _ratings(ctx, ids))
        page = ProductPage(
            {
                str(p.id): RatedProductSummary(
                    **_summary(p, stock.get(p.id, 0)).model_dump(),
                    rating=None if ratings is None else ratings.get(p.id),
                )
                for p in reply.products
            }
        )
    else:
        stock = await _available(ctx, ids)
        page = ProductPage({str(p.id): _summary(p, stock.get(p.id, 0)) for p in reply.products})
    return Answer(serialized(page), headers, results=len(ids))


async def get_product(ctx: Ctx) -> JsonBody:
    product_id = ctx.id("id")
    answer = await cached(ctx, lambda: _product(ctx, product_id))
    ctx.record("product_viewed", product_id=product_id)
    return JsonBody(content=answer.body)


async def _product(ctx: Ctx, product_id: int) -> Answer:
    # Three owners, asked at once; the catalog's NOT_FOUND wins over the others' answers.
    reply, stock, ratings = await asyncio.gather(
        ctx.upstreams.catalog.GetProduct(catalog_pb2.GetProductRequest(id=product_id), metadata=ctx.metadata),
        _available(ctx, [product_id]),
        _ratings(ctx, [product_id]),
    )
    product = Product(
        id=product_id,
        **_summary(reply.product, stock.get(product_id, 0)).model_dump(),
        rating=None if ratings is None else ratings.get(product_id),
    )
    return Answer(serialized(product))


async def update_product(ctx: Ctx) -> Message:
    product_id = ctx.id("id")
    body = ctx.body(ProductChanges)
    given = body.model_fields_set
    request = catalog_pb2.UpdateProductRequest(id=product_id)
    if "name" in given:
        request.name = body.name
    if "description" in given:
        request.description = body.description
    if "price" in given:
        request.price.CopyFrom(money.to_proto(body.price, ctx.settings.currency))
    if "stock" in given:
        # The catalog sets it in inventory within the same change: all of it or none.
        request.stock = body.stock
    await ctx.upstreams.catalog.UpdateProduct(request, metadata=ctx.metadata)
    return Message(message="Product updated")


async def delete_product(ctx: Ctx) -> Message:
    await ctx.upstreams.catalog.DeleteProduct(
        catalog_pb2.DeleteProductRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Message(message="Product deleted")


TAGS = ("products",)
ROUTES = [
    Route(
        "POST",
        "/products/",
        create_product,
        "Add a product (and its stock)",
        TAGS,
        auth="admin",
        request=NewProduct,
        response=ProductCreated,
        status=201,
    ),
    Route(
        "GET",
        "/products/",
        list_products,
        "List products with their available stock (and rating with include=rating)",
        TAGS,
        response=ProductPage,
        query=ProductQuery,
        paged=True,
    ),
    Route(
        "GET",
        "/products/{id}",
        get_product,
        "One product with its available stock and rating",
        TAGS,
        response=Product,
    ),
    Route(
        "PUT",
        "/products/{id}",
        update_product,
        "Change any of name, price, description, stock",
        TAGS,
        auth="admin",
        request=ProductChanges,
        response=Message,
    ),
    Route(
        "DELETE",
        "/products/{id}",
        delete_product,
        "Remove a product from the catalog",
        TAGS,
        auth="admin",
        response=Message,
    ),
]
