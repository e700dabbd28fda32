from __future__ import annotations

from uuid import uuid4

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer


@pytest.fixture
async def catalog(platform: Platform) -> catalog_pb2_grpc.CatalogServiceStub:
    await platform.start("catalog")
    return platform.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog")


def _usd(cents: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=cents, currency="USD")


async def test_admin_creates_and_anyone_reads(
    catalog: catalog_pb2_grpc.CatalogServiceStub, tokens: TokenFactory
) -> None:
    name = f"Lamp {uuid4().hex}"
    created = await catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(name=name, description="bright", price=_usd(1999)),
        metadata=bearer(tokens.admin()),
    )
    got = await catalog.GetProduct(catalog_pb2.GetProductRequest(id=created.product.id))
    assert got.product.name == name
    assert got.product.price.amount_minor == 1999


async def test_customer_cannot_write(
    catalog: catalog_pb2_grpc.CatalogServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(name="x", price=_usd(1)),
            metadata=bearer(tokens.customer(9_000_007)),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("token_kind", "code"),
    [
        ("none", grpc.StatusCode.UNAUTHENTICATED),
        ("garbage", grpc.StatusCode.UNAUTHENTICATED),
        ("expired", grpc.StatusCode.UNAUTHENTICATED),
        ("foreign", grpc.StatusCode.UNAUTHENTICATED),
    ],
)
async def test_bad_tokens_are_rejected(
    catalog: catalog_pb2_grpc.CatalogServiceStub, tokens: TokenFactory, token_kind: str, code: grpc.StatusCode
) -> None:
    token = {
        "none": None,
        "garbage": "not.a.jwt",
        "expired": tokens.expired(1),
        "foreign": tokens.foreign(1),
    }[token_kind]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(name="x", price=_usd(1)),
            metadata=bearer(token) if token else None,
        )
    assert err.value.code() == code


@pytest.mark.parametrize(
    "request_",
    [
        catalog_pb2.CreateProductRequest(name="", price=_usd(1)),
        catalog_pb2.CreateProductRequest(name="x" * 201, price=_usd(1)),
        catalog_pb2.CreateProductRequest(name="x"),
        catalog_pb2.CreateProductRequest(name="x", price=_usd(-5)),
        catalog_pb2.CreateProductRequest(
            name="x", price=common_pb2.Money(amount_minor=5, currency="dollars")
        ),
        catalog_pb2.CreateProductRequest(name="x", price=_usd(1), weight_grams=-1),
    ],
)
async def test_invalid_products_are_rejected(
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    tokens: TokenFactory,
    request_: catalog_pb2.CreateProductRequest,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateProduct(request_, metadata=bearer(tokens.admin()))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_changes_only_given_fields_and_delete_hides(
    catalog: catalog_pb2_grpc.CatalogServiceStub, tokens: TokenFactory
) -> None:
    admin = bearer(tokens.admin())
    created = await catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(name="Chair", description="oak", price=_usd(5000)), metadata=admin
    )
    pid = created.product.id
    updated = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=pid, price=_usd(4500)), metadata=admin
    )
    assert (updated.product.name, updated.product.description, updated.product.price.amount_minor) == (
        "Chair",
        "oak",
        4500,
    )
    await catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=pid), metadata=admin)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.GetProduct(catalog_pb2.GetProductRequest(id=pid))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.DeleteProduct(catalog_pb2.DeleteProductRequest(id=pid), metadata=admin)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_search_and_pagination_walk_every_match_once(
    catalog: catalog_pb2_grpc.CatalogServiceStub, tokens: TokenFactory
) -> None:
    tag = uuid4().hex[:12]
    ids = set()
    for i in range(7):
        reply = await catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(name=f"Mug {i} {tag}", price=_usd(100 + i)),
            metadata=bearer(tokens.admin()),
        )
        ids.add(reply.product.id)
    seen: list[int] = []
    token = ""
    while True:
        page = await catalog.ListProducts(
            catalog_pb2.ListProductsRequest(query=tag.upper(), page_size=3, page_token=token)
        )
        assert len(page.products) <= 3
        seen += [p.id for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


async def test_garbage_page_token_is_invalid_argument(catalog: catalog_pb2_grpc.CatalogServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.ListProducts(catalog_pb2.ListProductsRequest(page_token="%%%"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_and_reflection(
    platform: Platform, catalog: catalog_pb2_grpc.CatalogServiceStub
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = platform.stub(health_pb2_grpc.HealthStub, "catalog")
    reply = await health.Check(health_pb2.HealthCheckRequest(service="shop.catalog.v1.CatalogService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    reflect = platform.stub(reflection_pb2_grpc.ServerReflectionStub, "catalog")
    call = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name async for r in call for s in r.list_services_response.service]
    assert "shop.catalog.v1.CatalogService" in names
    assert "grpc.health.v1.Health" in names
