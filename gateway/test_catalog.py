"""/api/catalog and /api/admin/catalog through real HTTP in front of the real services; the
documented /api/products keeps its shape and hides products that are not active."""

from __future__ import annotations

from uuid import uuid4

import pytest

from gateway.conftest import Api, User, assert_error
from tests.support.harness import Platform


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in ("auth", "catalog", "inventory", "reviews", "cart"):
        await platform.start(name)


def _word() -> str:
    return "g" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid4().hex[:11])


async def test_drafts_stay_off_the_documented_api_until_active(api: Api, admin: User, user: User) -> None:
    tag = _word()
    created = await api.post(
        "/api/admin/catalog/products/",
        {"name": f"Lamp {tag}", "price": 25.5, "description": "brass", "sku": f"SKU-{tag}"},
        token=admin.token,
    )
    assert created.status == 201, created
    item = created.body
    assert (item["status"], item["slug"], item["sku"], item["price"]) == (
        "draft",
        f"lamp-{tag}",
        f"SKU-{tag}",
        25.5,
    )
    pid = item["id"]

    assert_error(await api.get(f"/api/products/{pid}"), 404)
    assert (await api.get("/api/products/", params={"q": tag})).body == {}
    assert_error(await api.get(f"/api/catalog/products/{pid}"), 404)
    assert (await api.get(f"/api/admin/catalog/products/{pid}", token=admin.token)).body["status"] == "draft"
    # Nor can it be bought.
    assert_error(await api.post("/api/cart/", {"product_id": pid, "quantity": 1}, token=user.token), 404)

    published = await api.put(f"/api/admin/catalog/products/{pid}", {"status": "active"}, token=admin.token)
    assert published.body["status"] == "active"
    # The documented shape, exactly.
    documented = await api.get(f"/api/products/{pid}")
    assert documented.body == {
        "id": pid,
        "name": f"Lamp {tag}",
        "price": 25.5,
        "description": "brass",
        "stock": 0,
        "rating": {"average": 0.0, "count": 0, "histogram": [0, 0, 0, 0, 0]},
    }
    listed = await api.get("/api/products/", params={"q": tag})
    assert listed.body == {
        str(pid): {"name": f"Lamp {tag}", "price": 25.5, "description": "brass", "stock": 0}
    }

    archived = await api.put(f"/api/admin/catalog/products/{pid}", {"status": "archived"}, token=admin.token)
    assert archived.status == 200
    assert_error(await api.get(f"/api/products/{pid}"), 404)


async def test_slugs_find_products_and_renames_keep_old_links(api: Api, admin: User) -> None:
    tag = _word()
    made = await api.post(
        "/api/admin/catalog/products/",
        {"name": f"Mug {tag}", "price": 8, "status": "active"},
        token=admin.token,
    )
    pid, slug = made.body["id"], made.body["slug"]
    by_slug = await api.get(f"/api/catalog/products/{slug}")
    assert (by_slug.status, by_slug.body["id"]) == (200, pid)
    assert (await api.get(f"/api/catalog/products/{pid}")).body == by_slug.body
    renamed = await api.put(f"/api/admin/catalog/products/{pid}", {"slug": f"cup-{tag}"}, token=admin.token)
    assert renamed.body["slug"] == f"cup-{tag}"
    old = await api.get(f"/api/catalog/products/{slug}")
    assert (old.body["id"], old.body["slug"]) == (pid, f"cup-{tag}")
    other = await api.post(
        "/api/admin/catalog/products/", {"name": "Other", "price": 1, "slug": slug}, token=admin.token
    )
    assert_error(other, 409)
    assert_error(
        await api.put(f"/api/admin/catalog/products/{pid}", {"slug": "Not a slug"}, token=admin.token), 400
    )


async def test_search_with_filters_facets_and_pages(api: Api, admin: User) -> None:
    tag = _word()
    parent = (
        await api.post("/api/admin/catalog/categories/", {"name": f"Lighting {tag}"}, token=admin.token)
    ).body
    child = (
        await api.post(
            "/api/admin/catalog/categories/",
            {"name": f"Desk {tag}", "parent_id": parent["id"]},
            token=admin.token,
        )
    ).body
    assert (child["parent_id"], child["ancestor_ids"]) == (parent["id"], [parent["id"]])
    ids = []
    for name, price, cats in (
        ("Lamp", 20, [child["id"]]),
        ("Lantern", 60, [parent["id"]]),
        ("Lampshade", 5, []),
    ):
        reply = await api.post(
            "/api/admin/catalog/products/",
            {"name": f"{name} {tag}", "price": price, "status": "active", "category_ids": cats},
            token=admin.token,
        )
        assert reply.status == 201, reply
        ids.append(reply.body["id"])

    page = await api.get("/api/catalog/products/", params={"q": tag, "sort": "price_asc", "facets": "true"})
    assert page.status == 200
    assert [p["id"] for p in page.body["products"]] == [ids[2], ids[0], ids[1]]
    assert page.body["total"] == 3
    facets = page.body["facets"]
    counts = {c["category_id"]: c["count"] for c in facets["categories"]}
    assert (counts[parent["id"]], counts[child["id"]]) == (2, 1)
    assert {(b["min"], b["max"]): b["count"] for b in facets["price_bands"] if b["count"]} == {
        (0.0, 9.99): 1,
        (10.0, 24.99): 1,
        (50.0, 99.99): 1,
    }
    in_parent = await api.get("/api/catalog/products/", params={"q": tag, "category": str(parent["id"])})
    assert sorted(p["id"] for p in in_parent.body["products"]) == sorted(ids[:2])
    priced = await api.get(
        "/api/catalog/products/", params={"q": tag, "min_price": "10", "max_price": "24.99"}
    )
    assert [p["id"] for p in priced.body["products"]] == [ids[0]]
    typo = await api.get("/api/catalog/products/", params={"q": f"lanterm {tag}"})
    assert ([p["id"] for p in typo.body["products"]], typo.body["corrected_query"]) == (
        [ids[1]],
        f"lantern {tag}",
    )

    first = await api.get("/api/catalog/products/", params={"q": tag, "sort": "name", "page_size": "2"})
    token = first.headers["X-Next-Page-Token"]
    second = await api.get(
        "/api/catalog/products/", params={"q": tag, "sort": "name", "page_size": "2", "page_token": token}
    )
    assert [p["name"] for p in first.body["products"] + second.body["products"]] == sorted(
        f"{n} {tag}" for n in ("Lamp", "Lantern", "Lampshade")
    )
    for params in (
        {"sort": "cheapest"},
        {"min_rating": "6"},
        {"category": "0"},
        {"page_token": "%%%"},
        {"min_price": "1.001"},
    ):
        assert_error(await api.get("/api/catalog/products/", params=params), 400)
    assert_error(await api.get("/api/catalog/products/", params={"category": str(2**62)}), 404)
    # Admins see drafts through their own listing only.
    draft = await api.post(
        "/api/admin/catalog/products/", {"name": f"Lamp draft {tag}", "price": 1}, token=admin.token
    )
    public = await api.get("/api/catalog/products/", params={"q": tag})
    assert draft.body["id"] not in [p["id"] for p in public.body["products"]]
    drafts = await api.get(
        "/api/admin/catalog/products/", params={"q": tag, "status": "draft"}, token=admin.token
    )
    assert [p["id"] for p in drafts.body["products"]] == [draft.body["id"]]


async def test_category_admin(api: Api, admin: User, customer: User) -> None:
    top = (await api.post("/api/admin/catalog/categories/", {"name": "Top"}, token=admin.token)).body
    sub = (
        await api.post(
            "/api/admin/catalog/categories/", {"name": "Sub", "parent_id": top["id"]}, token=admin.token
        )
    ).body
    assert_error(
        await api.put(
            f"/api/admin/catalog/categories/{top['id']}", {"parent_id": sub["id"]}, token=admin.token
        ),
        409,
    )
    assert_error(await api.delete(f"/api/admin/catalog/categories/{top['id']}", token=admin.token), 409)
    moved = await api.put(
        f"/api/admin/catalog/categories/{sub['id']}", {"parent_id": 0, "name": "Now top"}, token=admin.token
    )
    assert (moved.body["parent_id"], moved.body["name"]) == (None, "Now top")
    tree = await api.get("/api/catalog/categories/")
    assert {c["id"] for c in tree.body["categories"]} >= {top["id"], sub["id"]}
    deleted = await api.delete(f"/api/admin/catalog/categories/{top['id']}", token=admin.token)
    assert deleted.body == {"message": "Category deleted"}
    assert_error(await api.delete(f"/api/admin/catalog/categories/{top['id']}", token=admin.token), 404)
    assert_error(await api.post("/api/admin/catalog/categories/", {"name": "x"}, token=customer.token), 403)
    assert_error(await api.post("/api/admin/catalog/categories/", {"name": ""}, token=admin.token), 400)


PNG = b"\x89PNG\r\n\x1a\n" + uuid4().bytes * 4


async def test_upload_then_use_the_image(api: Api, admin: User, customer: User) -> None:
    uploaded = await api.post(
        "/api/admin/catalog/uploads/", data=PNG, headers={"Content-Type": "image/png"}, token=admin.token
    )
    assert uploaded.status == 201, uploaded
    assert (uploaded.body["content_type"], uploaded.body["size_bytes"]) == ("image/png", len(PNG))
    url = uploaded.body["url"]
    async with api.client.get(api.base + url) as served:
        assert (served.status, served.content_type, await served.read()) == (200, "image/png", PNG)
        assert served.headers["X-Content-Type-Options"] == "nosniff"

    made = await api.post("/api/admin/catalog/products/", {"name": "Pictured", "price": 3}, token=admin.token)
    images = await api.put(
        f"/api/admin/catalog/products/{made.body['id']}/images",
        {
            "images": [
                {"url": "https://cdn.test/x.jpg", "alt_text": "x"},
                {"url": url, "alt_text": "front", "primary": True},
            ]
        },
        token=admin.token,
    )
    assert [(i["url"], i["position"], i["primary"]) for i in images.body["images"]] == [
        ("https://cdn.test/x.jpg", 0, False),
        (url, 1, True),
    ]
    two_primaries = {"images": [{"url": url, "primary": True}, {"url": url, "primary": True}]}
    assert_error(
        await api.put(
            f"/api/admin/catalog/products/{made.body['id']}/images", two_primaries, token=admin.token
        ),
        400,
    )


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<svg/>", "image/svg+xml", 415),
        (b"hello", "text/plain", 415),
        (b"<html></html>", "image/png", 400),
        (PNG, "image/gif", 400),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024), "image/png", 413),
    ],
)
async def test_uploads_refuse_wrong_types_and_sizes(
    api: Api, admin: User, body: bytes, content_type: str, status: int
) -> None:
    reply = await api.post(
        "/api/admin/catalog/uploads/", data=body, headers={"Content-Type": content_type}, token=admin.token
    )
    assert_error(reply, status)


async def test_uploads_need_an_admin_and_unknown_files_are_404(api: Api, customer: User) -> None:
    reply = await api.post(
        "/api/admin/catalog/uploads/", data=PNG, headers={"Content-Type": "image/png"}, token=customer.token
    )
    assert_error(reply, 403)
    assert_error(await api.get("/api/uploads/" + "0" * 64 + ".png"), 404)
    assert_error(await api.get("/api/uploads/..%2Fcatalog.db"), 404)


async def test_openapi_documents_the_new_endpoints(api: Api) -> None:
    doc = (await api.get("/api/openapi.json")).body
    for path in (
        "/api/catalog/products/",
        "/api/catalog/products/{ref}",
        "/api/admin/catalog/uploads/",
        "/api/uploads/{file}",
    ):
        assert path in doc["paths"], path
    upload = doc["paths"]["/api/admin/catalog/uploads/"]["post"]
    assert set(upload["requestBody"]["content"]) == {"image/png", "image/jpeg", "image/gif", "image/webp"}
    assert {"413", "415"} <= set(upload["responses"])
    params = {p["name"] for p in doc["paths"]["/api/catalog/products/"]["get"]["parameters"]}
    assert params >= {
        "q",
        "sort",
        "category",
        "min_price",
        "max_price",
        "in_stock",
        "min_rating",
        "facets",
        "page_token",
    }
