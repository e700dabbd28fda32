"""The demo catalog `make run` makes in a new data folder, seeded through a real gateway in front of
real services on storage of their own: products sit in a category tree, and every product shows a
picture that the shop serves."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from conftest import _on_maintenance_db
from deploy.local import demo
from deploy.local.keys import KeyFiles
from deploy.local.settings import load_settings
from services.kit.config import SERVICE_PORTS
from tests.security.real_gateway import Gateway, serve_gateway
from tests.support.harness import Platform
from tests.support.run import RUN_ID, redis_prefix
from tests.support.tokens import TokenFactory

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def own_platform(
    tmp_path_factory: pytest.TempPathFactory, keys: KeyFiles, redis_url: str
) -> AsyncIterator[Platform]:
    """An empty shop of its own: the demo leaves a shop that already has products alone."""
    external = os.environ.get("SHOP_TEST_DATABASE_URL")
    if external:
        name = f"shop_test_{RUN_ID}_demo"
        await _on_maintenance_db(external, f'CREATE DATABASE "{name}"')
        url = make_url(external).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo-db')}/{{service}}.db"
    plat = Platform(
        tmp_path_factory.mktemp("demo-data"), keys, url, redis_url, redis_prefix("test") + "demo:"
    )
    try:
        yield plat
    finally:
        await plat.close()
        if external:
            await _on_maintenance_db(external, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def gateway(own_platform: Platform, tokens: TokenFactory) -> AsyncIterator[Gateway]:
    for name in SERVICE_PORTS:
        if name != "shipping":  # the demo ships nothing
            await own_platform.start(name)
    async with serve_gateway(own_platform, tokens) as gateway:
        yield gateway


async def test_the_demo_shop_has_categories_and_a_picture_for_every_product(
    gateway: Gateway, own_platform: Platform, tmp_path: Path
) -> None:
    env = own_platform.env()
    api_url = gateway.api.base.rstrip("/") + "/api"
    created = await demo.seed(api_url, env["admin_email"], env["admin_password"], tmp_path)
    assert created >= 24

    tree = (await gateway.api.get("/api/catalog/categories/")).body["categories"]
    by_id = {c["id"]: c for c in tree}
    top = [c["name"] for c in tree if c["parent_id"] is None]
    assert top == ["Kitchen", "Outdoors", "Desk", "Apparel"]
    kitchen = next(c["id"] for c in tree if c["name"] == "Kitchen")
    assert [c["name"] for c in tree if c["parent_id"] == kitchen] == ["Mugs", "Bowls"]

    listing = await gateway.api.get("/api/catalog/products/", params={"page_size": "200", "facets": "true"})
    assert listing.status == 200, listing
    assert listing.body["total"] == created
    # Every category, top level and below, has products in it (its descendants' included).
    counts = {f["category_id"]: f["count"] for f in listing.body["facets"]["categories"]}
    assert {by_id[i]["name"] for i, n in counts.items() if n > 0} == {c["name"] for c in tree}
    kitchen_only = await gateway.api.get("/api/catalog/products/", params={"category": str(kitchen)})
    assert kitchen_only.body["total"] == counts[kitchen] > 0

    async with aiohttp.ClientSession() as http:
        for product in listing.body["products"]:
            assert product["category_ids"], product["name"]
            primary = [i for i in product["images"] if i["primary"]]
            assert len(primary) == 1, product
            assert product["name"].lower() in primary[0]["alt_text"].lower(), primary
            async with http.get(gateway.api.base.rstrip("/") + primary[0]["url"]) as reply:
                body = await reply.read()
                assert reply.status == 200, primary
                assert reply.content_type == "image/png", primary
                assert body.startswith(b"\x89PNG\r\n\x1a\n"), primary
                assert len(body) > 300, primary

    # A data folder seeds once; a shop with products of its own is left alone.
    assert await demo.seed(api_url, env["admin_email"], env["admin_password"], tmp_path) == 0
    (tmp_path / "other").mkdir()
    assert await demo.seed(api_url, env["admin_email"], env["admin_password"], tmp_path / "other") == 0
    again = await gateway.api.get("/api/catalog/products/", params={"page_size": "1"})
    assert again.body["total"] == created


def test_the_demo_is_off_unless_asked_for() -> None:
    assert not load_settings([], {}).demo_catalog
    assert load_settings([], {"SHOP_DEMO_CATALOG": "on"}).demo_catalog
    assert not load_settings([], {"SHOP_DEMO_CATALOG": "off"}).demo_catalog
