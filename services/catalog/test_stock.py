"""A product's stock given with the product is set in inventory by the catalog, all or nothing:
a product whose stock inventory refuses is not created, and a change whose stock inventory
refuses keeps none of its changes (real auth, inventory and catalog)."""

from __future__ import annotations

from uuid import uuid4

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

from .conftest import Stub, usd, word

Admin = tuple[tuple[str, str], ...]
Inventory = inventory_pb2_grpc.InventoryServiceStub


@pytest.fixture
async def inventory(platform: Platform) -> Inventory:
    # Auth issues the catalog's service token, with which it sets stock.
    for name in ("auth", "inventory"):
        await platform.start(name)
    return platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")


async def _on_hand(inventory: Inventory, admin: Admin, product_id: int) -> tuple[int, int]:
    reply = await inventory.GetStock(inventory_pb2.GetStockRequest(product_id=product_id), metadata=admin)
    return reply.level.on_hand, reply.level.reserved


async def _create(catalog: Stub, admin: Admin, name: str, stock: int) -> catalog_pb2.Product:
    reply = await catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(name=name, price=usd(1000), stock=stock), metadata=admin
    )
    product: catalog_pb2.Product = reply.product
    return product


async def _hold(inventory: Inventory, tokens: TokenFactory, product_id: int, quantity: int) -> None:
    await inventory.Reserve(
        inventory_pb2.ReserveRequest(
            order_reference=f"test-{uuid4().hex}",
            lines=[inventory_pb2.StockLine(product_id=product_id, quantity=quantity)],
        ),
        metadata=bearer(tokens.service("orders")),
    )


async def test_stock_given_with_a_product_is_set_for_the_admin(
    catalog: Stub, inventory: Inventory, tokens: TokenFactory
) -> None:
    admin = bearer(tokens.admin(9_000_011))
    product = await _create(catalog, admin, f"Stocked {word()}", 7)
    assert await _on_hand(inventory, admin, product.id) == (7, 0)
    await catalog.UpdateProduct(catalog_pb2.UpdateProductRequest(id=product.id, stock=3), metadata=admin)
    assert await _on_hand(inventory, admin, product.id) == (3, 0)
    moves = await inventory.ListMovements(
        inventory_pb2.ListMovementsRequest(product_id=product.id), metadata=admin
    )
    # The admin is the movements' actor, as when the admin sets stock in inventory itself.
    assert [(m.delta, m.actor, m.reason) for m in moves.movements] == [
        (-4, "9000011", "set through the API"),
        (7, "9000011", "set through the API"),
    ]


async def test_a_refused_stock_change_leaves_name_and_price_unchanged(
    catalog: Stub, inventory: Inventory, admin: Admin, tokens: TokenFactory
) -> None:
    name = f"Held {word()}"
    product = await _create(catalog, admin, name, 10)
    await _hold(inventory, tokens, product.id, 4)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalog.UpdateProduct(
            catalog_pb2.UpdateProductRequest(id=product.id, name="Renamed", price=usd(1), stock=3),
            metadata=admin,
        )
    # Inventory's own answer: stock below what is reserved.
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "reserved" in (refused.value.details() or "")
    got = (await catalog.GetProduct(catalog_pb2.GetProductRequest(id=product.id), metadata=admin)).product
    assert (got.name, got.price, got.update_time) == (name, usd(1000), product.update_time)
    assert await _on_hand(inventory, admin, product.id) == (10, 4)


async def test_with_inventory_down_nothing_changes_and_no_product_is_created(
    platform: Platform, catalog: Stub, inventory: Inventory, admin: Admin
) -> None:
    name = f"Kept {word()}"
    product = await _create(catalog, admin, name, 5)
    await platform.stop("inventory")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await catalog.UpdateProduct(
                catalog_pb2.UpdateProductRequest(id=product.id, price=usd(1), stock=1), metadata=admin
            )
        assert (down.value.code(), down.value.details()) == (
            grpc.StatusCode.UNAVAILABLE,
            "inventory service unavailable",
        )
        with pytest.raises(grpc.aio.AioRpcError) as not_created:
            await _create(catalog, admin, f"Never {name}", 5)
        assert not_created.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await platform.start("inventory")
    got = (await catalog.GetProduct(catalog_pb2.GetProductRequest(id=product.id), metadata=admin)).product
    assert (got.name, got.price) == (name, usd(1000))
    listed = await catalog.ListProducts(catalog_pb2.ListProductsRequest(query=name), metadata=admin)
    assert [p.name for p in listed.products] == [name]


async def test_stock_must_not_be_negative(catalog: Stub, inventory: Inventory, admin: Admin) -> None:
    product = await _create(catalog, admin, f"Plain {word()}", 1)
    for call in (
        catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(name=f"Bad {word()}", price=usd(1), stock=-1), metadata=admin
        ),
        catalog.UpdateProduct(catalog_pb2.UpdateProductRequest(id=product.id, stock=-1), metadata=admin),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await call
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
