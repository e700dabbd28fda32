"""/api/catalog and /api/admin/catalog: the full catalog model beside the documented /api/products
(whose shape stays as documented): slugs, SKUs, statuses, categories, images, ranked search with
filters and facets, and image uploads. Public reads see active products only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from gateway import money
from gateway.errors import ApiError
from gateway.models import (
    IMAGE_URL_PATTERN,
    SLUG_WITH_LETTER,
    Amount,
    Id,
    Patch,
    Price,
    QueryParams,
    RequestBody,
)
from gateway.product_cache import Answer, cached, serialized
from gateway.routes.products import _available
from gateway.routing import NEXT_PAGE_HEADER, Ctx, FileBody, JsonBody, Route
from shop.catalog.v1 import catalog_pb2

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
UPLOADS_PATH = "/api/uploads/"

StatusName = Literal["draft", "active", "archived"]
SortName = Literal["relevance", "price_asc", "price_desc", "name", "newest", "rating", "popularity"]
_STATUS: dict[str, catalog_pb2.ProductStatus.ValueType] = {
    "draft": catalog_pb2.PRODUCT_STATUS_DRAFT,
    "active": catalog_pb2.PRODUCT_STATUS_ACTIVE,
    "archived": catalog_pb2.PRODUCT_STATUS_ARCHIVED,
}
_STATUS_NAME: dict[int, StatusName] = {
    catalog_pb2.PRODUCT_STATUS_DRAFT: "draft",
    catalog_pb2.PRODUCT_STATUS_ACTIVE: "active",
    catalog_pb2.PRODUCT_STATUS_ARCHIVED: "archived",
}
_SORT = {
    "relevance": catalog_pb2.SEARCH_SORT_RELEVANCE,
    "price_asc": catalog_pb2.SEARCH_SORT_PRICE_ASC,
    "price_desc": catalog_pb2.SEARCH_SORT_PRICE_DESC,
    "name": catalog_pb2.SEARCH_SORT_NAME,
    "newest": catalog_pb2.SEARCH_SORT_NEWEST,
    "rating": catalog_pb2.SEARCH_SORT_RATING,
    "popularity": catalog_pb2.SEARCH_SORT_POPULARITY,
}
# Lowercase letters, digits and single hyphens, with a letter (all digits would read as an id);
# empty where the field is optional ("made from the name").
Slug = Annotated[StrictStr, Field(pattern=f"^$|{SLUG_WITH_LETTER}")]


# --- response shapes ---------------------------------------------------------------------------
class ImageView(BaseModel):
    url: str = Field(examples=["https://cdn.example.com/lamp.jpg"])
    alt_text: str
    position: int
    primary: bool


class CatalogRating(BaseModel):
    average: float = Field(examples=[4.5])
    count: int


class CatalogProduct(BaseModel):
    id: int
    slug: str = Field(examples=["desk-lamp"], description="Stable; a former slug still finds the product")
    sku: str | None
    name: str
    description: str
    price: Amount
    currency: str = Field(examples=["USD"])
    status: StatusName
    category_ids: list[int]
    images: list[ImageView] = Field(description="In display order; exactly one is primary when any exist")
    stock: int = Field(description="Units available now (inventory)")
    in_stock: bool = Field(description="As the catalog's filters see it (kept by inventory signals)")
    rating: CatalogRating = Field(description="As the catalog's sorts and filters see it")
    popularity: int
    created_at: datetime
    updated_at: datetime


class CategoryCountView(BaseModel):
    category_id: int
    count: int


class PriceBandView(BaseModel):
    min: Amount
    max: Amount | None = Field(description="Inclusive; null for the open-ended top band")
    count: int


class FacetsView(BaseModel):
    """Each facet counts matches under every other filter, so choosing a value gives its count."""

    categories: list[CategoryCountView] = Field(description="Per category, its descendants included")
    price_bands: list[PriceBandView]
    in_stock: int
    out_of_stock: int


class CatalogPage(BaseModel):
    products: list[CatalogProduct]
    total: int = Field(description="Matches over all pages")
    corrected_query: str | None = Field(description='The query after typo correction ("lmap" -> "lamp")')
    facets: FacetsView | None = Field(description="With facets=true")


class CategoryView(BaseModel):
    id: int
    name: str
    slug: str
    parent_id: int | None
    position: int
    ancestor_ids: list[int] = Field(description="From the top-level ancestor down to the parent")


class CategoryList(BaseModel):
    categories: list[CategoryView] = Field(description="Parents before children, siblings by position")


class Uploaded(BaseModel):
    url: str = Field(examples=["/api/uploads/3f1c...e9.png"], description="Use it as an image url")
    content_type: str
    size_bytes: int


class Deleted(BaseModel):
    message: str


# --- requests ----------------------------------------------------------------------------------
class SearchQuery(QueryParams):
    q: str = Field(
        default="", max_length=200, description="Full-text: every word, as a prefix, typos tolerated"
    )
    sort: SortName | None = Field(default=None, description="Default: relevance with q, else newest")
    category: Id | None = Field(default=None, description="This category and its descendants")
    min_price: Price | None = Field(default=None, description="In the shop's currency, inclusive")
    max_price: Price | None = Field(default=None, description="In the shop's currency, inclusive")
    in_stock: bool = Field(default=False, description="Only products in stock")
    min_rating: float | None = Field(default=None, ge=0, le=5, description="Average rating at least this")
    facets: bool = Field(default=False, description="Add facet counts for this query")
    page_size: int = Field(default=24, ge=1, le=200)
    page_token: str = Field(
        default="",
        max_length=1000,
        description="X-Next-Page-Token of the previous page (same query and sort)",
    )


class AdminSearchQuery(SearchQuery):
    status: StatusName | None = Field(default=None, description="Default: every status")


class ImageIn(RequestBody):
    url: StrictStr = Field(
        min_length=1,
        max_length=2000,
        pattern=IMAGE_URL_PATTERN,
        description="http(s) or an /api/uploads/ path",
    )
    alt_text: StrictStr = Field(default="", max_length=300)
    primary: StrictBool = False


class ImagesIn(RequestBody):
    images: list[ImageIn] = Field(max_length=20, description="Replaces every image, in this order")


class NewCatalogProduct(RequestBody):
    name: StrictStr = Field(min_length=1, max_length=200)
    price: Price
    description: StrictStr = Field(default="", max_length=10_000)
    slug: Slug = Field(default="", max_length=120, description="Made from the name when omitted")
    sku: StrictStr = Field(default="", max_length=64)
    status: StatusName = "draft"
    category_ids: list[Id] = Field(default_factory=list, max_length=50)
    weight_grams: StrictInt = Field(default=0, ge=0)


class CatalogProductChanges(Patch):
    name: StrictStr = Field(default="", min_length=1, max_length=200)
    price: Price = 0.0
    description: StrictStr = Field(default="", max_length=10_000)
    slug: Slug = Field(default="", min_length=1, max_length=120, description="The old slug keeps working")
    sku: StrictStr = Field(default="", max_length=64, description='"" clears it')
    status: StatusName = "active"
    category_ids: list[Id] = Field(default_factory=list, max_length=50, description="Replaces them all")
    weight_grams: StrictInt = Field(default=0, ge=0)


class NewCategory(RequestBody):
    name: StrictStr = Field(min_length=1, max_length=100)
    slug: Slug = Field(default="", max_length=120, description="Made from the name when omitted")
    parent_id: Id | None = None
    position: StrictInt = Field(default=0, ge=0, le=1_000_000)


class CategoryChanges(Patch):
    name: StrictStr = Field(default="", min_length=1, max_length=100)
    slug: Slug = Field(default="", min_length=1, max_length=120)
    parent_id: Id | Literal[0] = Field(default=0, description="Moves it (0: to the top level)")
    position: StrictInt = Field(default=0, ge=0, le=1_000_000)


# --- mapping -----------------------------------------------------------------------------------
def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _product(p: catalog_pb2.Product, stock: dict[int, int]) -> CatalogProduct:
    return CatalogProduct(
        id=p.id,
        slug=p.slug,
        sku=p.sku or None,
        name=p.name,
        description=p.description,
        price=money.from_proto(p.price),
        currency=p.price.currency,
        status=_STATUS_NAME.get(p.status, "active"),
        category_ids=list(p.category_ids),
        images=[
            ImageView(url=i.url, alt_text=i.alt_text, position=i.position, primary=i.primary)
            for i in p.images
        ],
        stock=stock.get(p.id, 0),
        in_stock=p.in_stock,
        rating=CatalogRating(average=round(p.rating_average, 2), count=p.rating_count),
        popularity=p.popularity,
        created_at=_time(p.create_time),
        updated_at=_time(p.update_time),
    )


def _category(c: catalog_pb2.Category) -> CategoryView:
    return CategoryView(
        id=c.id,
        name=c.name,
        slug=c.slug,
        parent_id=c.parent_id or None,
        position=c.position,
        ancestor_ids=list(c.ancestor_ids),
    )


# --- handlers ----------------------------------------------------------------------------------
async def _search(
    ctx: Ctx, query: SearchQuery, statuses: list[catalog_pb2.ProductStatus.ValueType]
) -> tuple[CatalogPage, str]:
    """One page and the next page's token."""
    request = catalog_pb2.SearchProductsRequest(
        query=query.q,
        sort=_SORT[query.sort] if query.sort else catalog_pb2.SEARCH_SORT_UNSPECIFIED,
        category_id=query.category or 0,
        in_stock_only=query.in_stock,
        page_size=query.page_size,
        page_token=query.page_token,
        include_facets=query.facets,
        statuses=statuses,
    )
    if query.min_price is not None:
        request.min_price_minor = money.minor_units(query.min_price)
    if query.max_price is not None:
        request.max_price_minor = money.minor_units(query.max_price)
    if query.min_rating is not None:
        request.min_rating = query.min_rating
    reply = await ctx.upstreams.catalog.SearchProducts(request, metadata=ctx.metadata)
    stock = await _available(ctx, [p.id for p in reply.products])
    facets = None
    if query.facets:
        f = reply.facets
        facets = FacetsView(
            categories=[CategoryCountView(category_id=c.category_id, count=c.count) for c in f.categories],
            price_bands=[
                PriceBandView(
                    min=money.from_minor(b.min_minor),
                    max=money.from_minor(b.max_minor) if b.HasField("max_minor") else None,
                    count=b.count,
                )
                for b in f.price_bands
            ],
            in_stock=f.in_stock,
            out_of_stock=f.out_of_stock,
        )
    page = CatalogPage(
        products=[_product(p, stock) for p in reply.products],
        total=reply.total_size,
        corrected_query=reply.corrected_query or None,
        facets=facets,
    )
    return page, reply.next_page_token


def _searched(ctx: Ctx, query: SearchQuery, total: int) -> None:
    if query.q and not query.page_token:
        ctx.record("searched", query=query.q, attributes={"results": str(total)})


async def search_catalog(ctx: Ctx) -> JsonBody:
    query = ctx.query(SearchQuery)

    async def fetch() -> Answer:
        page, token = await _search(ctx, query, [])
        return Answer(serialized(page), {NEXT_PAGE_HEADER: token} if token else {}, results=page.total)

    answer = await cached(ctx, fetch)
    _searched(ctx, query, answer.results)
    return JsonBody(content=answer.body)


async def admin_search_catalog(ctx: Ctx) -> CatalogPage:
    query = ctx.query(AdminSearchQuery)
    page, token = await _search(
        ctx, query, [_STATUS[query.status]] if query.status else list(_STATUS.values())
    )
    ctx.next_page(token)
    _searched(ctx, query, page.total)
    return page


async def _one(ctx: Ctx, request: catalog_pb2.GetProductRequest) -> CatalogProduct:
    if request.id:  # the stock is asked for at the same time
        reply, stock = await asyncio.gather(
            ctx.upstreams.catalog.GetProduct(request, metadata=ctx.metadata), _available(ctx, [request.id])
        )
        return _product(reply.product, stock)
    reply = await ctx.upstreams.catalog.GetProduct(request, metadata=ctx.metadata)
    return _product(reply.product, await _available(ctx, [reply.product.id]))


async def get_catalog_product(ctx: Ctx) -> JsonBody:
    ref = ctx.ref()
    request = (
        catalog_pb2.GetProductRequest(id=ref)
        if isinstance(ref, int)
        else catalog_pb2.GetProductRequest(slug=ref)
    )

    async def fetch() -> Answer:
        product = await _one(ctx, request)
        return Answer(serialized(product), product_id=product.id)

    answer = await cached(ctx, fetch)
    ctx.record("product_viewed", product_id=answer.product_id)
    return JsonBody(content=answer.body)


async def admin_get_catalog_product(ctx: Ctx) -> CatalogProduct:
    return await _one(ctx, catalog_pb2.GetProductRequest(id=ctx.id("id")))


async def admin_create_catalog_product(ctx: Ctx) -> CatalogProduct:
    body = ctx.body(NewCatalogProduct)
    reply = await ctx.upstreams.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            name=body.name,
            description=body.description,
            price=money.to_proto(body.price, ctx.settings.currency),
            slug=body.slug,
            sku=body.sku,
            status=_STATUS[body.status],
            category_ids=body.category_ids,
            weight_grams=body.weight_grams,
        ),
        metadata=ctx.metadata,
    )
    return _product(reply.product, {})


async def admin_update_catalog_product(ctx: Ctx) -> CatalogProduct:
    body = ctx.body(CatalogProductChanges)
    given = body.model_fields_set
    request = catalog_pb2.UpdateProductRequest(id=ctx.id("id"))
    for name in ("name", "description", "slug", "sku", "weight_grams"):
        if name in given:
            setattr(request, name, getattr(body, name))
    if "price" in given:
        request.price.CopyFrom(money.to_proto(body.price, ctx.settings.currency))
    if "status" in given:
        request.status = _STATUS[body.status]
    if "category_ids" in given:
        request.category_ids.extend(body.category_ids)
        request.set_categories = True
    reply = await ctx.upstreams.catalog.UpdateProduct(request, metadata=ctx.metadata)
    return _product(reply.product, await _available(ctx, [reply.product.id]))


async def admin_set_images(ctx: Ctx) -> CatalogProduct:
    body = ctx.body(ImagesIn)
    reply = await ctx.upstreams.catalog.SetProductImages(
        catalog_pb2.SetProductImagesRequest(
            product_id=ctx.id("id"),
            images=[
                catalog_pb2.Image(url=i.url, alt_text=i.alt_text, primary=i.primary) for i in body.images
            ],
        ),
        metadata=ctx.metadata,
    )
    return _product(reply.product, await _available(ctx, [reply.product.id]))


async def admin_upload_image(ctx: Ctx) -> Uploaded:
    request = ctx.request
    declared = request.content_type
    if declared not in UPLOAD_TYPES:
        raise ApiError(415, f"Content-Type must be one of {', '.join(UPLOAD_TYPES)}")
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"File too large (limit {MAX_UPLOAD_BYTES} bytes)")
    # Read the stream ourselves: the app's JSON body limit is far smaller than an image's.
    content = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        content += chunk
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"File too large (limit {MAX_UPLOAD_BYTES} bytes)")
    reply = await ctx.upstreams.catalog.UploadImage(
        catalog_pb2.UploadImageRequest(content=bytes(content), content_type=declared), metadata=ctx.metadata
    )
    return Uploaded(
        url=UPLOADS_PATH + reply.name, content_type=reply.content_type, size_bytes=reply.size_bytes
    )


async def get_upload(ctx: Ctx) -> FileBody:
    reply = await ctx.upstreams.catalog.GetUpload(catalog_pb2.GetUploadRequest(name=ctx.file_name()))
    # Content-addressed: a name never changes content. nosniff: the type is the one we checked.
    ctx.headers.update(
        {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}
    )
    return FileBody(content=reply.content, content_type=reply.content_type)


async def list_categories(ctx: Ctx) -> CategoryList:
    reply = await ctx.upstreams.catalog.ListCategories(
        catalog_pb2.ListCategoriesRequest(), metadata=ctx.metadata
    )
    return CategoryList(categories=[_category(c) for c in reply.categories])


async def admin_create_category(ctx: Ctx) -> CategoryView:
    body = ctx.body(NewCategory)
    reply = await ctx.upstreams.catalog.CreateCategory(
        catalog_pb2.CreateCategoryRequest(
            name=body.name, slug=body.slug, parent_id=body.parent_id or 0, position=body.position
        ),
        metadata=ctx.metadata,
    )
    return _category(reply.category)


async def admin_update_category(ctx: Ctx) -> CategoryView:
    body = ctx.body(CategoryChanges)
    request = catalog_pb2.UpdateCategoryRequest(id=ctx.id("id"))
    for name in body.model_fields_set:
        setattr(request, name, getattr(body, name))
    reply = await ctx.upstreams.catalog.UpdateCategory(request, metadata=ctx.metadata)
    return _category(reply.category)


async def admin_delete_category(ctx: Ctx) -> Deleted:
    await ctx.upstreams.catalog.DeleteCategory(
        catalog_pb2.DeleteCategoryRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Deleted(message="Category deleted")


TAGS = ("catalog",)
ADMIN = ("catalog admin",)
ROUTES = [
    Route(
        "GET",
        "/catalog/products/",
        search_catalog,
        "Search and list active products: sorts, filters, facets (keyset pages)",
        TAGS,
        response=CatalogPage,
        query=SearchQuery,
        paged=True,
        errors=(404,),
    ),
    Route(
        "GET",
        "/catalog/products/{ref}",
        get_catalog_product,
        "One active product by id or by its slug (a former slug works too)",
        TAGS,
        response=CatalogProduct,
    ),
    Route("GET", "/catalog/categories/", list_categories, "The category tree", TAGS, response=CategoryList),
    Route("GET", "/uploads/{file}", get_upload, "An uploaded image", TAGS, response=FileBody),
    Route(
        "GET",
        "/admin/catalog/products/",
        admin_search_catalog,
        "Search products of any status (or one, with status=)",
        ADMIN,
        auth="admin",
        response=CatalogPage,
        query=AdminSearchQuery,
        paged=True,
        errors=(404,),
    ),
    Route(
        "POST",
        "/admin/catalog/products/",
        admin_create_catalog_product,
        "Add a product with slug, SKU, status and categories (a draft unless status says otherwise)",
        ADMIN,
        auth="admin",
        request=NewCatalogProduct,
        response=CatalogProduct,
        status=201,
        errors=(404, 409),
    ),
    Route(
        "GET",
        "/admin/catalog/products/{id}",
        admin_get_catalog_product,
        "One product of any status",
        ADMIN,
        auth="admin",
        response=CatalogProduct,
    ),
    Route(
        "PUT",
        "/admin/catalog/products/{id}",
        admin_update_catalog_product,
        "Change any of name, price, description, slug, SKU, status, categories, weight",
        ADMIN,
        auth="admin",
        request=CatalogProductChanges,
        response=CatalogProduct,
        errors=(409,),
    ),
    Route(
        "PUT",
        "/admin/catalog/products/{id}/images",
        admin_set_images,
        "Replace a product's images (URLs; at most one primary, else the first)",
        ADMIN,
        auth="admin",
        request=ImagesIn,
        response=CatalogProduct,
    ),
    Route(
        "POST",
        "/admin/catalog/uploads/",
        admin_upload_image,
        "Upload an image (raw body, PNG/JPEG/GIF/WebP checked by content, at most 2 MiB); use its url",
        ADMIN,
        auth="admin",
        upload=UPLOAD_TYPES,
        response=Uploaded,
        status=201,
        errors=(415,),
    ),
    Route(
        "POST",
        "/admin/catalog/categories/",
        admin_create_category,
        "Add a category",
        ADMIN,
        auth="admin",
        request=NewCategory,
        response=CategoryView,
        status=201,
        errors=(404, 409),
    ),
    Route(
        "PUT",
        "/admin/catalog/categories/{id}",
        admin_update_category,
        "Rename, re-slug, reorder or move a category (not under itself or its descendants: 409)",
        ADMIN,
        auth="admin",
        request=CategoryChanges,
        response=CategoryView,
        errors=(409,),
    ),
    Route(
        "DELETE",
        "/admin/catalog/categories/{id}",
        admin_delete_category,
        "Delete a category without subcategories (409 otherwise); its products only leave it",
        ADMIN,
        auth="admin",
        response=Deleted,
        errors=(409,),
    ),
]
