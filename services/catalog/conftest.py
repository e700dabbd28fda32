"""Fixtures of the catalog's tests: the real service on a real port, and small builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

Stub = catalog_pb2_grpc.CatalogServiceStub


@pytest.fixture
async def catalog(platform: Platform) -> Stub:
    await platform.start("catalog")
    return platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")


@asynccontextmanager
async def restarted(platform: Platform, **settings: Any) -> AsyncIterator[Stub]:
    """The catalog with other settings for one test, then back to the suite's."""
    await platform.stop("catalog")
    await platform.start("catalog", **settings)
    try:
        yield platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")
    finally:
        await platform.stop("catalog")
        await platform.start("catalog")


@pytest.fixture
def admin(tokens: TokenFactory) -> tuple[tuple[str, str], ...]:
    return bearer(tokens.admin())


def usd(cents: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=cents, currency="USD")


def word() -> str:
    """A word no other test's product has (letters only, so it is one search term)."""
    return "w" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid4().hex[:11])


async def product(
    catalog: Stub,
    admin: Sequence[tuple[str, str]],
    name: str,
    *,
    cents: int = 1000,
    description: str = "",
    categories: Sequence[int] = (),
    status: catalog_pb2.ProductStatus.ValueType = catalog_pb2.PRODUCT_STATUS_UNSPECIFIED,
    slug: str = "",
    sku: str = "",
) -> catalog_pb2.Product:
    reply = await catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            name=name,
            description=description,
            price=usd(cents),
            category_ids=list(categories),
            status=status,
            slug=slug,
            sku=sku,
        ),
        metadata=admin,
    )
    created: catalog_pb2.Product = reply.product
    return created


async def category(catalog: Stub, admin: Sequence[tuple[str, str]], name: str = "", parent: int = 0) -> int:
    reply = await catalog.CreateCategory(
        catalog_pb2.CreateCategoryRequest(name=name or f"Cat {uuid4().hex[:8]}", parent_id=parent),
        metadata=admin,
    )
    category_id: int = reply.category.id
    return category_id
