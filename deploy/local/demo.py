"""A first run that looks like a shop: a demo catalog made through the public API, once per data folder.

On when `SHOP_DEMO_CATALOG=on` (`make run` sets it unless it is already set; the launcher alone and
the tests start from an empty shop). A marker file in the data folder keeps it from running twice.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import aiohttp

MARKER = "demo_catalog_seeded"

# (category, adjectives, nouns, price range)
_CATEGORIES = [
    ("Kitchen", ["Stoneware", "Enamel", "Walnut", "Copper"], ["mug", "bowl", "cutting board"], (8, 45)),
    ("Outdoors", ["Trail", "Summit", "Harbor"], ["backpack", "water bottle", "headlamp"], (15, 120)),
    ("Desk", ["Oak", "Linen", "Brass"], ["notebook", "desk lamp", "pen holder"], (6, 80)),
    ("Apparel", ["Merino", "Canvas", "Organic cotton"], ["beanie", "tote bag", "t-shirt"], (12, 70)),
]
_COMMENTS = {
    5: ["Exactly as described, lovely quality.", "Bought a second one as a gift."],
    4: ["Very nice, shipping took a little while.", "Good value for the price."],
    3: ["It is fine. Nothing special.", "Smaller than I expected."],
    2: ["The finish wore off after a month."],
}


def _products(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for category, adjectives, nouns, (low, high) in _CATEGORIES:
        for adjective in adjectives:
            for noun in nouns[:2]:
                out.append(
                    {
                        "name": f"{adjective} {noun}",
                        "price": round(rng.uniform(low, high), 0) - 0.01,
                        "description": f"{category}: {adjective.lower()} {noun}, made to last.",
                        "stock": rng.choice([0, 3, 12, 25, 40, 60]),
                    }
                )
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
        ids = [(await call("POST", "/products/", p, admin))["id"] for p in _products(rng)]
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
