"""The catalog's gRPC servicer: validates, calls the store, maps rows to messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from services.kit import money, paging, principal, telemetry, timestamps
from services.kit.errors import DomainError, ErrorCode, Kind, invalid
from services.kit.server import Registration, Runtime
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from . import metrics
from .store import CatalogStore, ProductChanges, ProductRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_BATCH = 500


class CatalogError(ErrorCode):
    PRODUCT_NOT_FOUND = Kind.NOT_FOUND, "product not found"


def _to_proto(row: ProductRow) -> catalog_pb2.Product:
    return catalog_pb2.Product(
        id=row.id,
        name=row.name,
        description=row.description,
        price=money.of(row.price_minor, row.currency),
        weight_grams=row.weight_grams,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise invalid("name must not be empty")
    if len(name) > MAX_NAME:
        raise invalid(f"name must be at most {MAX_NAME} characters")
    return name


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise invalid(f"description must be at most {MAX_DESCRIPTION} characters")
    return value


def _weight(value: int) -> int:
    if value < 0:
        raise invalid("weight_grams must not be negative")
    return value


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.CreateProductResponse:
        principal.require_admin()
        if not request.HasField("price"):
            raise invalid("price is required")
        price = money.validated(request.price, "price")
        row = await self._store.create(
            _name(request.name),
            _description(request.description),
            price.amount_minor,
            price.currency,
            _weight(request.weight_grams),
        )
        return catalog_pb2.CreateProductResponse(product=_to_proto(row))

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.GetProductResponse:
        row = await self._store.get(request.id)
        if row is None:
            raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {request.id} not found")
        return catalog_pb2.GetProductResponse(product=_to_proto(row))

    async def BatchGetProducts(
        self, request: catalog_pb2.BatchGetProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.BatchGetProductsResponse:
        if len(request.ids) > MAX_BATCH:
            raise invalid(f"at most {MAX_BATCH} ids per call")
        rows = await self._store.get_many(list(request.ids))
        return catalog_pb2.BatchGetProductsResponse(products=[_to_proto(r) for r in rows])

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListProductsResponse:
        size = paging.page_size(request.page_size)
        rows = await self._store.list(size + 1, paging.decode_int(request.page_token), request.query.strip())
        rows, token = paging.split(rows, size, lambda r: paging.encode(r.id))
        return catalog_pb2.ListProductsResponse(products=[_to_proto(r) for r in rows], next_page_token=token)

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.UpdateProductResponse:
        principal.require_admin()
        price = money.validated(request.price, "price") if request.HasField("price") else None
        changes = ProductChanges(
            name=_name(request.name) if request.HasField("name") else None,
            description=_description(request.description) if request.HasField("description") else None,
            price_minor=price.amount_minor if price else None,
            currency=price.currency if price else None,
            weight_grams=_weight(request.weight_grams) if request.HasField("weight_grams") else None,
        )
        row = await self._store.update(request.id, changes)
        if row is None:
            raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {request.id} not found")
        return catalog_pb2.UpdateProductResponse(product=_to_proto(row))

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.DeleteProductResponse:
        principal.require_admin()
        if not await self._store.delete(request.id):
            raise DomainError(CatalogError.PRODUCT_NOT_FOUND, f"product {request.id} not found")
        return catalog_pb2.DeleteProductResponse()


async def build(runtime: Runtime) -> Sequence[Registration]:
    db = await runtime.database(MIGRATIONS)
    runtime.background(telemetry.refreshing(metrics.refresher(db)), "catalog-metrics")
    return [
        Registration(
            CatalogServicer(CatalogStore(db)),
            catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
            catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
        )
    ]
