"""The catalog's gRPC servicer: validates, calls the stores (and inventory for a product's stock),
maps rows to messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import grpc
from pydantic import Field

from services.kit import completion, money, paging, principal, telemetry, timestamps
from services.kit.config import ServiceSettings
from services.kit.errors import DomainError, invalid
from services.kit.server import Registration, Runtime
from services.kit.text import bounded
from shop.activity.v1 import activity_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2_grpc
from shop.reviews.v1 import reviews_pb2_grpc

from . import metrics
from .categories import CategoryChanges, CategoryStore
from .domain import CatalogError, ImageSpec, Status, path_ids, slugify, valid_slug
from .search import Query, Sort, for_database
from .signals import SignalsSync, Sources
from .stock import Stock
from .store import CatalogStore, NewProduct, Product, ProductChanges, Signals
from .tables import CategoryRow
from .uploads import MAX_UPLOAD_BYTES, Uploads

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_CATEGORY_NAME = 100
MAX_SKU = 64
MAX_QUERY = 200
MAX_BATCH = 500
MAX_IMAGES = 20
MAX_URL = 2000
MAX_ALT = 300
# Re-exported: other modules and tests name the errors through the servicer's module.
__all__ = ["CatalogError", "CatalogServicer", "Settings", "build"]

_STATUS_TO_PROTO = {
    Status.DRAFT: catalog_pb2.PRODUCT_STATUS_DRAFT,
    Status.ACTIVE: catalog_pb2.PRODUCT_STATUS_ACTIVE,
    Status.ARCHIVED: catalog_pb2.PRODUCT_STATUS_ARCHIVED,
}
_STATUS_FROM_PROTO = {v: k for k, v in _STATUS_TO_PROTO.items()}
_SORTS = {
    catalog_pb2.SEARCH_SORT_RELEVANCE: Sort.RELEVANCE,
    catalog_pb2.SEARCH_SORT_PRICE_ASC: Sort.PRICE_ASC,
    catalog_pb2.SEARCH_SORT_PRICE_DESC: Sort.PRICE_DESC,
    catalog_pb2.SEARCH_SORT_NAME: Sort.NAME,
    catalog_pb2.SEARCH_SORT_NEWEST: Sort.NEWEST,
    catalog_pb2.SEARCH_SORT_RATING: Sort.RATING,
    catalog_pb2.SEARCH_SORT_POPULARITY: Sort.POPULARITY,
}


class Settings(ServiceSettings):
    upload_max_bytes: int = Field(default=MAX_UPLOAD_BYTES, ge=1, le=3 * 1024 * 1024)
    # How often stock, ratings and popularity are pulled into the listing columns (signals.py).
    signals_interval_seconds: float = Field(default=30.0, gt=0)
    # How long a listing's total and facet counts may miss changes made through another replica
    # (this replica's own changes show at once); 0 rebuilds the listing index for every count.
    count_cache_seconds: float = Field(default=30.0, ge=0, le=300)


def _to_proto(product: Product) -> catalog_pb2.Product:
    row = product.row
    return catalog_pb2.Product(
        id=row.id,
        name=row.name,
        description=row.description,
        price=money.of(row.price_minor, row.currency),
        weight_grams=row.weight_grams,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
        slug=row.slug,
        sku=row.sku or "",
        status=_STATUS_TO_PROTO[Status(row.status)],
        category_ids=product.category_ids,
        images=[
            catalog_pb2.Image(url=i.url, alt_text=i.alt_text, position=i.position, primary=i.is_primary)
            for i in product.images
        ],
        in_stock=row.in_stock,
        rating_average=row.rating_average,
        rating_count=row.rating_count,
        popularity=row.popularity,
    )


def _category_proto(row: CategoryRow) -> catalog_pb2.Category:
    return catalog_pb2.Category(
        id=row.id,
        name=row.name,
        slug=row.slug,
        parent_id=row.parent_id or 0,
        position=row.position,
        ancestor_ids=path_ids(row.path)[:-1],
    )


def _visible() -> tuple[str, ...]:
    """Only active products are public; an admin sees every status."""
    caller = principal.current()
    return tuple(Status) if caller is not None and caller.is_admin else (Status.ACTIVE.value,)


def _text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    text = bounded(value, field, limit)
    if required and not text:
        raise invalid(f"{field} must not be empty")
    return text


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise invalid(f"description must be at most {MAX_DESCRIPTION} characters")
    return value


def _weight(value: int) -> int:
    if value < 0:
        raise invalid("weight_grams must not be negative")
    return value


def _slug(value: str, name: str, fallback: str) -> str:
    """The given slug (checked), or one made from the name."""
    if not value:
        return slugify(name, fallback)
    if not valid_slug(value):
        raise invalid("slug must be lowercase letters, digits and single hyphens, not only digits")
    return value


def _status(value: int, *, default: Status | None) -> Status | None:
    if value == catalog_pb2.PRODUCT_STATUS_UNSPECIFIED:
        return default
    if value not in _STATUS_FROM_PROTO:
        raise invalid("unknown status")
    return _STATUS_FROM_PROTO[catalog_pb2.ProductStatus.ValueType(value)]


def _on_hand(value: int) -> int:
    if value < 0:
        raise invalid("stock must not be negative")
    return value


def _actor() -> str:
    """Whom a product's stock is set for: the admin calling (require_admin ran)."""
    caller = principal.current()
    return caller.subject if caller is not None else ""


def _ids(values: Sequence[int], field: str) -> list[int]:
    if any(v <= 0 for v in values):
        raise invalid(f"{field} must be positive ids")
    return list(values)


def _images(images: Sequence[catalog_pb2.Image]) -> list[ImageSpec]:
    if len(images) > MAX_IMAGES:
        raise invalid(f"at most {MAX_IMAGES} images")
    specs = []
    for image in images:
        url = _text(image.url, "url", MAX_URL)
        if not (url.startswith(("https://", "http://", "/api/uploads/"))):
            raise invalid("url must be http(s) or an uploaded file's /api/uploads/ path")
        specs.append(
            ImageSpec(url, _text(image.alt_text, "alt_text", MAX_ALT, required=False), image.primary)
        )
    return specs


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(
        self, store: CatalogStore, categories: CategoryStore, uploads: Uploads, stock: Stock
    ) -> None:
        self._store = store
        self._categories = categories
        self._uploads = uploads
        self._stock = stock

    # --- products ------------------------------------------------------------------------------
    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.CreateProductResponse:
        principal.require_admin()
        if not request.HasField("price"):
            raise invalid("price is required")
        price = money.validated(request.price, "price")
        name = _text(request.name, "name", MAX_NAME)
        stock = _on_hand(request.stock) if request.HasField("stock") else None
        new = NewProduct(
            name=name,
            description=_description(request.description),
            price_minor=price.amount_minor,
            currency=price.currency,
            weight_grams=_weight(request.weight_grams),
            slug=_slug(request.slug, name, "product"),
            sku=_text(request.sku, "sku", MAX_SKU, required=False) or None,
            status=_status(request.status, default=Status.ACTIVE) or Status.ACTIVE,
            category_ids=_ids(request.category_ids, "category_ids"),
            slug_generated=not request.slug,
        )
        if stock is None:
            product = await self._store.create(new)
        else:
            product = await completion.to_completion(self._create_with_stock(new, stock))
        return catalog_pb2.CreateProductResponse(product=_to_proto(product))

    async def _create_with_stock(self, new: NewProduct, on_hand: int) -> Product:
        """All or nothing for the caller: a product whose stock could not be set is taken back out
        before the failure is reported. Finished even if the caller goes away meanwhile."""
        product = await self._store.create(new)
        try:
            await self._stock.set(product.row.id, on_hand, _actor())
        except Exception:
            try:
                await self._store.delete(product.row.id)
            except Exception as exc:  # the stock failure is the answer; this one is logged
                log.warning(
                    "product not taken back out", extra={"product_id": product.row.id, "error": repr(exc)}
                )
            raise
        return product

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.GetProductResponse:
        if request.id:
            product = await self._store.get(request.id, _visible())
        elif request.slug:
            product = await self._store.get_by_slug(request.slug, _visible())
        else:
            raise invalid("id or slug is required")
        if product is None:
            raise DomainError(
                CatalogError.PRODUCT_NOT_FOUND, f"product {request.id or request.slug} not found"
            )
        return catalog_pb2.GetProductResponse(product=_to_proto(product))

    async def BatchGetProducts(
        self, request: catalog_pb2.BatchGetProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.BatchGetProductsResponse:
        if len(request.ids) > MAX_BATCH:
            raise invalid(f"at most {MAX_BATCH} ids per call")
        products = await self._store.get_many(list(request.ids), _visible())
        return catalog_pb2.BatchGetProductsResponse(products=[_to_proto(p) for p in products])

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListProductsResponse:
        size = paging.page_size(request.page_size)
        query = _text(request.query, "query", MAX_QUERY, required=False)
        products = await self._store.list_page(
            size + 1, paging.decode_int(request.page_token), query, _visible()
        )
        page, token = paging.split(products, size, lambda p: paging.encode(p.row.id))
        return catalog_pb2.ListProductsResponse(products=[_to_proto(p) for p in page], next_page_token=token)

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.UpdateProductResponse:
        principal.require_admin()
        price = money.validated(request.price, "price") if request.HasField("price") else None
        name = _text(request.name, "name", MAX_NAME) if request.HasField("name") else None
        changes = ProductChanges(
            name=name,
            description=_description(request.description) if request.HasField("description") else None,
            price_minor=price.amount_minor if price else None,
            currency=price.currency if price else None,
            weight_grams=_weight(request.weight_grams) if request.HasField("weight_grams") else None,
            slug=_slug(request.slug, "", "product") if request.HasField("slug") else None,
            sku=_text(request.sku, "sku", MAX_SKU, required=False) if request.HasField("sku") else None,
            status=_status(request.status, default=None),
            category_ids=_ids(request.category_ids, "category_ids") if request.set_categories else None,
        )
        if changes.slug == "product":
            raise invalid("slug must not be empty")
        if request.HasField("stock"):
            # Stock is set before the changes commit, so an inventory failure keeps none of them.
            # Finished even if the caller goes away meanwhile: the stock may already be set.
            stock, actor = _on_hand(request.stock), _actor()

            async def set_stock() -> None:
                await self._stock.set(request.id, stock, actor)

            product = await completion.to_completion(self._store.update(request.id, changes, set_stock))
        else:
            product = await self._store.update(request.id, changes)
        return catalog_pb2.UpdateProductResponse(product=_to_proto(product))

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.DeleteProductResponse:
        principal.require_admin()
        if not await self._store.delete(request.id):
            raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {request.id} not found")
        return catalog_pb2.DeleteProductResponse()

    async def SearchProducts(
        self, request: catalog_pb2.SearchProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.SearchProductsResponse:
        statuses: tuple[str, ...] = (Status.ACTIVE.value,)
        if request.statuses:
            principal.require_admin()
            statuses = tuple(
                s.value
                for s in dict.fromkeys(
                    _status(v, default=Status.ACTIVE) or Status.ACTIVE for v in request.statuses
                )
            )
        if request.sort and request.sort not in _SORTS:
            raise invalid("unknown sort")
        text = _text(request.query, "query", MAX_QUERY, required=False)
        sort = _SORTS.get(request.sort, Sort.RELEVANCE if text else Sort.NEWEST)
        category_path = None
        if request.category_id:
            category_path = (await self._categories.get(request.category_id)).path
        for field in ("min_price_minor", "max_price_minor"):
            if request.HasField(field) and getattr(request, field) < 0:
                raise invalid(f"{field} must not be negative")
        if request.HasField("min_rating") and not 0 <= request.min_rating <= 5:
            raise invalid("min_rating must be between 0 and 5")
        result = await self._store.search(
            Query(
                text=text,
                sort=sort,
                category_path=category_path,
                min_price=request.min_price_minor if request.HasField("min_price_minor") else None,
                max_price=request.max_price_minor if request.HasField("max_price_minor") else None,
                in_stock_only=request.in_stock_only,
                min_rating=request.min_rating if request.HasField("min_rating") else None,
                statuses=statuses,
                limit=paging.page_size(request.page_size),
                page_token=request.page_token,
                facets=request.include_facets,
            )
        )
        products = await self._store.in_order(result.ids, statuses)
        reply = catalog_pb2.SearchProductsResponse(
            products=[_to_proto(p) for p in products],
            next_page_token=result.next_page_token,
            total_size=result.total,
            corrected_query=result.corrected,
        )
        if result.facets is not None:
            facets = result.facets
            reply.facets.CopyFrom(
                catalog_pb2.Facets(
                    categories=[
                        catalog_pb2.CategoryCount(category_id=cid, count=n)
                        for cid, n in sorted(facets.categories.items())
                    ],
                    price_bands=[
                        catalog_pb2.PriceBandCount(
                            min_minor=band.min_minor, max_minor=band.max_minor, count=n
                        )
                        for band, n in facets.price_bands
                    ],
                    in_stock=facets.in_stock,
                    out_of_stock=facets.out_of_stock,
                )
            )
        return reply

    async def SetProductImages(
        self, request: catalog_pb2.SetProductImagesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.SetProductImagesResponse:
        principal.require_admin()
        product = await self._store.set_images(request.product_id, _images(request.images))
        return catalog_pb2.SetProductImagesResponse(product=_to_proto(product))

    async def SetProductSignals(
        self, request: catalog_pb2.SetProductSignalsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.SetProductSignalsResponse:
        principal.require_admin_or_service()
        if request.HasField("rating_average") and not 0 <= request.rating_average <= 5:
            raise invalid("rating_average must be between 0 and 5")
        for field in ("rating_count", "popularity"):
            if request.HasField(field) and getattr(request, field) < 0:
                raise invalid(f"{field} must not be negative")
        signals = Signals(
            in_stock=request.in_stock if request.HasField("in_stock") else None,
            rating_average=request.rating_average if request.HasField("rating_average") else None,
            rating_count=request.rating_count if request.HasField("rating_count") else None,
            popularity=request.popularity if request.HasField("popularity") else None,
        )
        if not await self._store.set_signals(request.product_id, signals):
            raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {request.product_id} not found")
        return catalog_pb2.SetProductSignalsResponse()

    async def UploadImage(
        self, request: catalog_pb2.UploadImageRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.UploadImageResponse:
        principal.require_admin()
        stored = await self._uploads.store(request.content, request.content_type)
        return catalog_pb2.UploadImageResponse(
            name=stored.name, content_type=stored.content_type, size_bytes=stored.size
        )

    async def GetUpload(
        self, request: catalog_pb2.GetUploadRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.GetUploadResponse:
        content, content_type = await self._uploads.read(request.name)
        return catalog_pb2.GetUploadResponse(content=content, content_type=content_type)

    # --- categories ----------------------------------------------------------------------------
    async def CreateCategory(
        self, request: catalog_pb2.CreateCategoryRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.CreateCategoryResponse:
        principal.require_admin()
        name = _text(request.name, "name", MAX_CATEGORY_NAME)
        if request.parent_id < 0:
            raise invalid("parent_id must not be negative")
        row = await self._categories.create(
            name,
            _slug(request.slug, name, "category"),
            request.parent_id,
            request.position,
            slug_generated=not request.slug,
        )
        return catalog_pb2.CreateCategoryResponse(category=_category_proto(row))

    async def GetCategory(
        self, request: catalog_pb2.GetCategoryRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.GetCategoryResponse:
        return catalog_pb2.GetCategoryResponse(
            category=_category_proto(await self._categories.get(request.id))
        )

    async def ListCategories(
        self, request: catalog_pb2.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListCategoriesResponse:
        rows = await self._categories.all()
        return catalog_pb2.ListCategoriesResponse(categories=[_category_proto(r) for r in rows])

    async def UpdateCategory(
        self, request: catalog_pb2.UpdateCategoryRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.UpdateCategoryResponse:
        principal.require_admin()
        if request.HasField("parent_id") and request.parent_id < 0:
            raise invalid("parent_id must not be negative")
        if request.HasField("slug") and not valid_slug(request.slug):
            raise invalid("slug must be lowercase letters, digits and single hyphens, not only digits")
        changes = CategoryChanges(
            name=_text(request.name, "name", MAX_CATEGORY_NAME) if request.HasField("name") else None,
            slug=request.slug if request.HasField("slug") else None,
            parent_id=request.parent_id if request.HasField("parent_id") else None,
            position=request.position if request.HasField("position") else None,
        )
        row = await self._categories.update(request.id, changes)
        return catalog_pb2.UpdateCategoryResponse(category=_category_proto(row))

    async def DeleteCategory(
        self, request: catalog_pb2.DeleteCategoryRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.DeleteCategoryResponse:
        principal.require_admin()
        await self._categories.delete(request.id)
        return catalog_pb2.DeleteCategoryResponse()


async def build(runtime: Runtime) -> Sequence[Registration]:
    settings = runtime.settings_as(Settings)
    db = await runtime.database(MIGRATIONS)
    uploads = Uploads(settings.data_dir / "uploads" / "catalog", settings.upload_max_bytes)
    token = runtime.service_token()
    # Stubs built on aio channels; Channels.stub's signature makes mypy pick the sync types.
    inventory = cast(
        "inventory_pb2_grpc.InventoryServiceAsyncStub",
        runtime.channels.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory"),
    )
    sources = Sources(
        inventory=inventory,
        reviews=cast(
            "reviews_pb2_grpc.ReviewsServiceAsyncStub",
            runtime.channels.stub(reviews_pb2_grpc.ReviewsServiceStub, "reviews"),
        ),
        activity=cast(
            "activity_pb2_grpc.ActivityServiceAsyncStub",
            runtime.channels.stub(activity_pb2_grpc.ActivityServiceStub, "activity"),
        ),
        metadata=token.metadata,
    )
    store = CatalogStore(db, for_database(db, settings.count_cache_seconds))
    runtime.background(
        SignalsSync(
            db,
            sources,
            settings.signals_interval_seconds,
            runtime.lease("signals"),
            changed=store.signals_changed,
        ).run(),
        "catalog-signals",
    )
    runtime.background(telemetry.refreshing(metrics.refresher(db)), "catalog-metrics")
    runtime.background(store.warm(), "catalog-listing-index")
    return [
        Registration(
            CatalogServicer(
                store,
                CategoryStore(db, store.tree_changed),
                uploads,
                Stock(inventory, token.metadata),
            ),
            catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
            catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
        )
    ]
