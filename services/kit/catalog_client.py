"""What other services need from the catalog, in one place: "does this product exist?".

In the kit, not the catalog's package: no service imports another service's code."""

from __future__ import annotations

import grpc

from services.kit.clients import unreachable
from services.kit.errors import CommonError, DomainError, ErrorCode
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc


async def require_product(
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub, product_id: int, not_found: ErrorCode
) -> catalog_pb2.Product:
    """The product, or the caller's own `not_found` error; UNAVAILABLE while the catalog is down."""
    try:
        reply = await catalog.GetProduct(catalog_pb2.GetProductRequest(id=product_id))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise DomainError(not_found, f"product {product_id} not found") from None
        if unreachable(exc):
            raise DomainError(CommonError.DEPENDENCY_UNAVAILABLE, "the catalog is unavailable") from None
        raise
    product: catalog_pb2.Product = reply.product
    return product
