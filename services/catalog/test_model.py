"""The catalog model through real gRPC: the category tree, slugs, SKUs, status visibility, images."""

from __future__ import annotations

from uuid import uuid4

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2
from tests.support.tokens import TokenFactory, bearer

from .conftest import Stub, category, product, word

Admin = tuple[tuple[str, str], ...]


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    code: grpc.StatusCode = err.value.code()
    return code


async def test_tree_moves_carry_the_subtree_and_cycles_are_refused(catalog: Stub, admin: Admin) -> None:
    top = await category(catalog, admin, "Home")
    kitchen = await category(catalog, admin, "Kitchen", parent=top)
    knives = await category(catalog, admin, "Knives", parent=kitchen)
    other = await category(catalog, admin, "Garden")
    tag = word()
    knife = await product(catalog, admin, f"Chef knife {tag}", categories=[knives])

    async def in_subtree(category_id: int) -> list[int]:
        reply = await catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, category_id=category_id)
        )
        return [p.id for p in reply.products]

    assert await in_subtree(top) == [knife.id]
    assert await in_subtree(other) == []

    # Moving "Kitchen" under "Garden" takes "Knives" (and its product) along.
    moved = await catalog.UpdateCategory(
        catalog_pb2.UpdateCategoryRequest(id=kitchen, parent_id=other), metadata=admin
    )
    assert (moved.category.parent_id, list(moved.category.ancestor_ids)) == (other, [other])
    got = await catalog.GetCategory(catalog_pb2.GetCategoryRequest(id=knives))
    assert list(got.category.ancestor_ids) == [other, kitchen]
    assert await in_subtree(other) == [knife.id]
    assert await in_subtree(top) == []

    for parent in (kitchen, knives):  # under itself, under its own descendant
        code = await _code(
            catalog.UpdateCategory(
                catalog_pb2.UpdateCategoryRequest(id=kitchen, parent_id=parent), metadata=admin
            )
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert (await catalog.GetCategory(catalog_pb2.GetCategoryRequest(id=kitchen))).category.parent_id == other

    # Back to the top level.
    moved = await catalog.UpdateCategory(
        catalog_pb2.UpdateCategoryRequest(id=kitchen, parent_id=0), metadata=admin
    )
    assert (moved.category.parent_id, list(moved.category.ancestor_ids)) == (0, [])
    assert list(
        (await catalog.GetCategory(catalog_pb2.GetCategoryRequest(id=knives))).category.ancestor_ids
    ) == [kitchen]
    missing = await _code(
        catalog.UpdateCategory(catalog_pb2.UpdateCategoryRequest(id=kitchen, parent_id=2**62), metadata=admin)
    )
    assert missing == grpc.StatusCode.NOT_FOUND


async def test_list_orders_parents_first_then_position(catalog: Stub, admin: Admin) -> None:
    root = await category(catalog, admin)
    second = (
        await catalog.CreateCategory(
            catalog_pb2.CreateCategoryRequest(name="B", parent_id=root, position=2), metadata=admin
        )
    ).category.id
    first = (
        await catalog.CreateCategory(
            catalog_pb2.CreateCategoryRequest(name="A", parent_id=root, position=1), metadata=admin
        )
    ).category.id
    ids = [c.id for c in (await catalog.ListCategories(catalog_pb2.ListCategoriesRequest())).categories]
    assert ids.index(root) < ids.index(first) < ids.index(second)


async def test_deleting_a_category(catalog: Stub, admin: Admin) -> None:
    parent = await category(catalog, admin)
    child = await category(catalog, admin, parent=parent)
    item = await product(catalog, admin, f"Vase {word()}", categories=[parent, child])
    code = await _code(catalog.DeleteCategory(catalog_pb2.DeleteCategoryRequest(id=parent), metadata=admin))
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    await catalog.DeleteCategory(catalog_pb2.DeleteCategoryRequest(id=child), metadata=admin)
    # The product stays, only leaving the deleted category.
    got = await catalog.GetProduct(catalog_pb2.GetProductRequest(id=item.id))
    assert list(got.product.category_ids) == [parent]
    await catalog.DeleteCategory(catalog_pb2.DeleteCategoryRequest(id=parent), metadata=admin)
    assert (
        list((await catalog.GetProduct(catalog_pb2.GetProductRequest(id=item.id))).product.category_ids) == []
    )
    code = await _code(catalog.GetCategory(catalog_pb2.GetCategoryRequest(id=parent)))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_category_writes_need_admin_and_valid_input(
    catalog: Stub, admin: Admin, tokens: TokenFactory
) -> None:
    customer = bearer(tokens.customer(9_000_005))
    assert (
        await _code(catalog.CreateCategory(catalog_pb2.CreateCategoryRequest(name="x"), metadata=customer))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    for request in (
        catalog_pb2.CreateCategoryRequest(name=" "),
        catalog_pb2.CreateCategoryRequest(name="x", slug="Not A Slug"),
        catalog_pb2.CreateCategoryRequest(name="x", slug="123"),
    ):
        assert (
            await _code(catalog.CreateCategory(request, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT
        )
    assert (
        await _code(
            catalog.CreateCategory(
                catalog_pb2.CreateCategoryRequest(name="x", parent_id=2**62), metadata=admin
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    slug = f"c-{uuid4().hex[:10]}"
    await catalog.CreateCategory(catalog_pb2.CreateCategoryRequest(name="x", slug=slug), metadata=admin)
    assert (
        await _code(
            catalog.CreateCategory(catalog_pb2.CreateCategoryRequest(name="y", slug=slug), metadata=admin)
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )


async def test_slugs_are_unique_stable_and_old_ones_keep_working(catalog: Stub, admin: Admin) -> None:
    tag = word()
    made = await product(catalog, admin, f"Crème Brûlée Set {tag}")
    assert made.slug == f"creme-brulee-set-{tag}"
    # Renaming keeps the slug: links stay stable.
    renamed = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=made.id, name="Dessert set"), metadata=admin
    )
    assert renamed.product.slug == made.slug

    new_slug = f"dessert-set-{tag}"
    changed = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=made.id, slug=new_slug), metadata=admin
    )
    assert changed.product.slug == new_slug
    for slug in (made.slug, new_slug):  # the old link still finds it, with its current slug
        got = await catalog.GetProduct(catalog_pb2.GetProductRequest(slug=slug))
        assert (got.product.id, got.product.slug) == (made.id, new_slug)

    # Neither the current nor a former slug can go to another product.
    for slug in (made.slug, new_slug):
        code = await _code(
            catalog.CreateProduct(
                catalog_pb2.CreateProductRequest(name="x", price=made.price, slug=slug), metadata=admin
            )
        )
        assert code == grpc.StatusCode.ALREADY_EXISTS
    # Going back to a former slug of its own is fine.
    back = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=made.id, slug=made.slug), metadata=admin
    )
    assert back.product.slug == made.slug
    assert (
        await _code(catalog.GetProduct(catalog_pb2.GetProductRequest(slug=f"nothing-{tag}")))
        == grpc.StatusCode.NOT_FOUND
    )
    # A slug of digits only would read as an id.
    digits = await product(catalog, admin, "2024")
    assert digits.slug.startswith("product-")
    assert (
        await _code(
            catalog.UpdateProduct(
                catalog_pb2.UpdateProductRequest(id=made.id, slug="Bad Slug"), metadata=admin
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_sku_is_unique(catalog: Stub, admin: Admin) -> None:
    sku = f"SKU-{uuid4().hex[:10]}"
    first = await product(catalog, admin, "A", sku=sku)
    assert first.sku == sku
    assert (
        await _code(
            catalog.CreateProduct(
                catalog_pb2.CreateProductRequest(name="B", price=first.price, sku=sku), metadata=admin
            )
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )
    other = await product(catalog, admin, "B")
    assert (
        await _code(
            catalog.UpdateProduct(catalog_pb2.UpdateProductRequest(id=other.id, sku=sku), metadata=admin)
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )
    cleared = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=first.id, sku=""), metadata=admin
    )
    assert cleared.product.sku == ""
    taken = await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=other.id, sku=sku), metadata=admin
    )
    assert taken.product.sku == sku


async def test_only_active_products_are_public(catalog: Stub, admin: Admin, tokens: TokenFactory) -> None:
    tag = word()
    draft = await product(catalog, admin, f"Draft {tag}", status=catalog_pb2.PRODUCT_STATUS_DRAFT)
    active = await product(catalog, admin, f"Active {tag}")
    assert active.status == catalog_pb2.PRODUCT_STATUS_ACTIVE  # the default, as old clients expect
    customer = bearer(tokens.customer(9_000_009))
    for metadata in (None, customer, bearer(tokens.service("cart"))):
        assert (
            await _code(catalog.GetProduct(catalog_pb2.GetProductRequest(id=draft.id), metadata=metadata))
            == grpc.StatusCode.NOT_FOUND
        )
        batch = await catalog.BatchGetProducts(
            catalog_pb2.BatchGetProductsRequest(ids=[draft.id, active.id]), metadata=metadata
        )
        assert [p.id for p in batch.products] == [active.id]
        listed = await catalog.ListProducts(catalog_pb2.ListProductsRequest(query=tag), metadata=metadata)
        assert [p.id for p in listed.products] == [active.id]
        found = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=tag), metadata=metadata)
        assert [p.id for p in found.products] == [active.id]
    # Statuses other than active are for admins only.
    code = await _code(
        catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=tag, statuses=[catalog_pb2.PRODUCT_STATUS_DRAFT]),
            metadata=customer,
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED

    # The admin sees every status.
    assert (
        await catalog.GetProduct(catalog_pb2.GetProductRequest(id=draft.id), metadata=admin)
    ).product.status == catalog_pb2.PRODUCT_STATUS_DRAFT
    drafts = await catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query=tag, statuses=[catalog_pb2.PRODUCT_STATUS_DRAFT]),
        metadata=admin,
    )
    assert [p.id for p in drafts.products] == [draft.id]

    # Publishing shows it; archiving hides it again.
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=draft.id, status=catalog_pb2.PRODUCT_STATUS_ACTIVE),
        metadata=admin,
    )
    assert (await catalog.GetProduct(catalog_pb2.GetProductRequest(id=draft.id))).product.id == draft.id
    await catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(id=draft.id, status=catalog_pb2.PRODUCT_STATUS_ARCHIVED),
        metadata=admin,
    )
    assert (
        await _code(catalog.GetProduct(catalog_pb2.GetProductRequest(id=draft.id)))
        == grpc.StatusCode.NOT_FOUND
    )
    found = await catalog.SearchProducts(catalog_pb2.SearchProductsRequest(query=tag))
    assert [p.id for p in found.products] == [active.id]


async def test_images_keep_order_and_one_primary(catalog: Stub, admin: Admin) -> None:
    item = await product(catalog, admin, "Lamp")
    images = [
        catalog_pb2.Image(url="https://cdn.test/a.jpg", alt_text="front"),
        catalog_pb2.Image(url="https://cdn.test/b.jpg", alt_text="side", primary=True),
    ]
    reply = await catalog.SetProductImages(
        catalog_pb2.SetProductImagesRequest(product_id=item.id, images=images), metadata=admin
    )
    got = [(i.url, i.alt_text, i.position, i.primary) for i in reply.product.images]
    assert got == [("https://cdn.test/a.jpg", "front", 0, False), ("https://cdn.test/b.jpg", "side", 1, True)]
    # No primary marked: the first is primary.
    reply = await catalog.SetProductImages(
        catalog_pb2.SetProductImagesRequest(product_id=item.id, images=images[:1]), metadata=admin
    )
    assert [(i.url, i.primary) for i in reply.product.images] == [("https://cdn.test/a.jpg", True)]
    for bad in (
        [
            catalog_pb2.Image(url="https://x.test/1", primary=True),
            catalog_pb2.Image(url="https://x.test/2", primary=True),
        ],
        [catalog_pb2.Image(url="javascript:alert(1)")],
        [catalog_pb2.Image(url="")],
    ):
        code = await _code(
            catalog.SetProductImages(
                catalog_pb2.SetProductImagesRequest(product_id=item.id, images=bad), metadata=admin
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert len((await catalog.GetProduct(catalog_pb2.GetProductRequest(id=item.id))).product.images) == 1
    cleared = await catalog.SetProductImages(
        catalog_pb2.SetProductImagesRequest(product_id=item.id), metadata=admin
    )
    assert list(cleared.product.images) == []


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_uploads_are_sniffed_and_limited(catalog: Stub, admin: Admin, tokens: TokenFactory) -> None:
    stored = await catalog.UploadImage(
        catalog_pb2.UploadImageRequest(content=PNG, content_type="image/png"), metadata=admin
    )
    assert (stored.content_type, stored.size_bytes) == ("image/png", len(PNG))
    assert stored.name.endswith(".png")
    got = await catalog.GetUpload(catalog_pb2.GetUploadRequest(name=stored.name))
    assert (got.content, got.content_type) == (PNG, "image/png")

    for content, declared in (
        (b"<svg onload=alert(1)>", "image/svg+xml"),
        (b"<html></html>", "image/png"),  # declared as an image, is not one
        (PNG, "image/jpeg"),  # is an image, but not the one declared
        (b"", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024), "image/png"),  # over the limit
    ):
        code = await _code(
            catalog.UploadImage(
                catalog_pb2.UploadImageRequest(content=content, content_type=declared), metadata=admin
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    code = await _code(
        catalog.UploadImage(
            catalog_pb2.UploadImageRequest(content=PNG), metadata=bearer(tokens.customer(9_000_003))
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    for name in ("../catalog.db", "x.png", "0" * 64 + ".svg"):
        assert (
            await _code(catalog.GetUpload(catalog_pb2.GetUploadRequest(name=name)))
            == grpc.StatusCode.NOT_FOUND
        )


async def test_same_names_get_distinct_generated_slugs(catalog: Stub, admin: Admin) -> None:
    name = f"Plain mug {word()}"
    first, second = await product(catalog, admin, name), await product(catalog, admin, name)
    assert first.slug != second.slug
    assert second.slug == f"{first.slug}-{second.id}"
    for made in (first, second):
        assert (await catalog.GetProduct(catalog_pb2.GetProductRequest(slug=made.slug))).product.id == made.id
