"""A first run that looks like a shop: a demo catalog made through the public API, once per data folder:
products in a small category tree, each with a drawn picture (deploy/local/demo_images.py) uploaded
as its primary image, stock, reviews, a banner and a post.

On when `SHOP_DEMO_CATALOG=on` (`make run` sets it unless it is already set; the launcher alone and
the tests start from an empty shop). A marker file in the data folder keeps it from running twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from deploy.local.demo_images import RGB, illustration

MARKER = "demo_catalog_seeded"

# (category, its background colour, adjectives, (kind, subcategory) pairs, price range)
_CATEGORIES = [
    (
        "Kitchen",
        (250, 236, 220),
        ["Stoneware", "Enamel", "Walnut", "Copper"],
        [("mug", "Mugs"), ("bowl", "Bowls")],
        (8, 45),
    ),
    (
        "Outdoors",
        (222, 238, 226),
        ["Trail", "Summit", "Harbor"],
        [("backpack", "Backpacks"), ("water bottle", "Water bottles")],
        (15, 120),
    ),
    (
        "Desk",
        (226, 232, 244),
        ["Oak", "Linen", "Brass"],
        [("notebook", "Notebooks"), ("desk lamp", "Desk lamps")],
        (6, 80),
    ),
    (
        "Apparel",
        (244, 228, 236),
        ["Merino", "Canvas", "Organic cotton"],
        [("beanie", "Beanies"), ("tote bag", "Tote bags")],
        (12, 70),
    ),
]
# A product's colour in its picture, by its adjective.
_COLOURS: dict[str, RGB] = {
    "Stoneware": (150, 140, 130),
    "Enamel": (70, 120, 190),
    "Walnut": (110, 72, 45),
    "Copper": (184, 115, 51),
    "Trail": (85, 107, 47),
    "Summit": (200, 60, 50),
    "Harbor": (30, 80, 130),
    "Oak": (196, 160, 110),
    "Linen": (200, 185, 160),
    "Brass": (181, 150, 60),
    "Merino": (120, 120, 130),
    "Canvas": (190, 175, 140),
    "Organic cotton": (90, 150, 130),
}
_COMMENTS = {
    5: ["Exactly as described, lovely quality.", "Bought a second one as a gift."],
    4: ["Very nice, shipping took a little while.", "Good value for the price."],
    3: ["It is fine. Nothing special.", "Smaller than I expected."],
    2: ["The finish wore off after a month."],
}


@dataclass(frozen=True)
class DemoProduct:
    fields: dict[str, Any]  # the documented POST /products/ body
    category: str  # its subcategory's name
    kind: str
    colour: RGB
    background: RGB


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _products(rng: random.Random) -> list[DemoProduct]:
    out = []
    for category, background, adjectives, kinds, (low, high) in _CATEGORIES:
        for adjective in adjectives:
            for kind, subcategory in kinds:
                fields = {
                    "name": f"{adjective} {kind}",
                    "price": round(rng.uniform(low, high), 0) - 0.01,
                    "description": f"{category}: {adjective.lower()} {kind}, made to last.",
                    "stock": rng.choice([0, 3, 12, 25, 40, 60]),
                }
                out.append(DemoProduct(fields, subcategory, kind, _COLOURS[adjective], background))
    return out


async def seed(api_url: str, admin_email: str, admin_password: str, data_dir: Path) -> int:
    """Creates the demo catalog unless this data folder already has it; returns products created."""
    marker = data_dir / MARKER
    if marker.exists():
        return 0
    rng = random.Random(7)  # the same shop on every new data folder
    async with aiohttp.ClientSession(raise_for_status=True) as http:

        async def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.request(method, api_url + path, json=body, headers=headers) as reply:
                return await reply.json()

        admin = (await call("POST", "/auth/login/", {"email": admin_email, "password": admin_password}))[
            "token"
        ]
        existing = await call("GET", "/products/?page_size=1")
        if existing:  # a shop with products of its own is left alone
            marker.write_text("skipped: the shop already had products\n")
            return 0

        async def upload(png: bytes) -> str:
            headers = {"Authorization": f"Bearer {admin}", "Content-Type": "image/png"}
            async with http.post(api_url + "/admin/catalog/uploads/", data=png, headers=headers) as reply:
                url: str = (await reply.json())["url"]
                return url

        categories: dict[str, int] = {}
        for position, (name, _, _, kinds, _) in enumerate(_CATEGORIES):
            parent = await call(
                "POST", "/admin/catalog/categories/", {"name": name, "position": position}, admin
            )
            for sub_position, (_, subcategory) in enumerate(kinds):
                categories[subcategory] = (
                    await call(
                        "POST",
                        "/admin/catalog/categories/",
                        {"name": subcategory, "parent_id": parent["id"], "position": sub_position},
                        admin,
                    )
                )["id"]
        ids = []
        for product in _products(rng):
            product_id = (await call("POST", "/products/", product.fields, admin))["id"]
            base = f"/admin/catalog/products/{product_id}"
            await call("PUT", base, {"category_ids": [categories[product.category]]}, admin)
            name = product.fields["name"]
            image = {
                "url": await upload(illustration(product.kind, product.colour, product.background)),
                "alt_text": f"Illustration of {_article(name)} {name.lower()}",
                "primary": True,
            }
            await call("PUT", base + "/images", {"images": [image]}, admin)
            ids.append(product_id)
        shoppers = []
        for n in range(3):
            email, password = f"demo-shopper-{n}@example.com", f"demo-password-{n}"
            await call("POST", "/auth/register/", {"email": email, "password": password})
            shoppers.append(
                (await call("POST", "/auth/login/", {"email": email, "password": password}))["token"]
            )
        for product_id in rng.sample(ids, 10):
            for token in rng.sample(shoppers, rng.randint(1, 3)):
                rating = rng.choice([5, 5, 4, 4, 3, 2])
                comment = rng.choice(_COMMENTS[rating])
                await call(
                    "POST", f"/products/{product_id}/reviews/", {"rating": rating, "comment": comment}, token
                )
        await call(
            "POST",
            "/banners/",
            {
                "title": "New in: the stoneware collection",
                "image_url": "https://images.example.com/stoneware.jpg",
                "link_url": "/products?q=stoneware",
                "placement": "home",
                "active": True,
            },
            admin,
        )
        post = await call(
            "POST",
            "/posts/",
            {
                "title": "Welcome to the shop",
                "author_name": "The shop team",
                "body_markdown": "This is a **demo catalog**, made when a new data folder starts.\n\n"
                "Try the search, add something to your cart and check out with the test card "
                "`4242 4242 4242 4242`.",
            },
            admin,
        )
        await call("POST", f"/posts/{post['id']}/publish", {}, admin)
    marker.write_text(f"{len(ids)} products\n")
    return len(ids)
