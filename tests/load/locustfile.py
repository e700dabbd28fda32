"""The shop's load profile: shoppers browsing, searching, reading products and reviews, filling carts
and checking out, in the mix a shop sees (weights 10 : 5 : 3 : 1).

Run it through `make load-profile` (floor rows beside it, JSON and a chart), or on its own against a
running platform, with the locust that target installs:

    .venv-load/bin/locust -f tests/load/locustfile.py --headless -u 16 -r 4 -t 60s --host http://127.0.0.1:5000

Shoppers sign in as `load-shopper-<n>@example.com` (made on first use), so repeated runs do not
make new accounts. Every request counts as failed unless it gets the answer a shopper expects.
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

PASSWORD = "load profile shopper 2026"
WORDS = ["lamp", "chair", "table", "oak", "brass", "linen", "vintage", "wooden", "desk", "mug"]
SORTS = ["relevance", "price_asc", "price_desc", "newest", "rating", "popularity"]
_SHOPPERS = itertools.count()
_products: list[int] = []


def _catalog(environment: Any, **_: Any) -> None:
    """The products to visit: those in stock on the first pages of the public listing."""
    import json
    import urllib.request

    token, host = "", environment.host
    while len(_products) < 400:
        url = f"{host}/api/products/?page_size=200" + (f"&page_token={token}" if token else "")
        with urllib.request.urlopen(url, timeout=30) as reply:
            # The documented listing: an object keyed by product id; shoppers visit those in stock.
            page = json.loads(reply.read())
            _products.extend(int(i) for i, product in page.items() if product.get("stock", 0) > 0)
            token = reply.headers.get("X-Next-Page-Token", "")
        if not token:
            break
    if not _products:
        raise SystemExit("no product in stock: nothing to load")


events.test_start.add_listener(_catalog)  # type: ignore[no-untyped-call]


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        email = f"load-shopper-{next(_SHOPPERS)}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        # Sign in first: an account an earlier run made costs no registration (the gateway allows
        # SHOP_REGISTRATIONS_PER_CLIENT new accounts an hour from one address, 20 by default).
        token = self._sign_in(credentials, expect_new=True)
        if token is None:
            with self.client.post(
                "/api/auth/register/", json=credentials, name="setup: register", catch_response=True
            ) as made:
                if made.status_code != 201:
                    made.failure(f"register {made.status_code}")
                    raise SystemExit(f"{email} could not be made: {made.status_code} {made.text}")
            token = self._sign_in(credentials, expect_new=False)
        self.headers = {"Authorization": f"Bearer {token}"}

    def _sign_in(self, credentials: dict[str, str], *, expect_new: bool) -> str | None:
        with self.client.post(
            "/api/auth/login/", json=credentials, name="setup: login", catch_response=True
        ) as reply:
            if reply.status_code == 200:
                token: str = reply.json()["token"]
                return token
            if reply.status_code == 401 and expect_new:
                reply.success()  # not made yet
                return None
            reply.failure(f"login {reply.status_code}")
            raise SystemExit(f"{credentials['email']} could not sign in: {reply.status_code}")

    @task(10)
    def browse_and_search(self) -> None:
        if random.random() < 0.5:
            self.client.get(f"/api/catalog/products/?q={random.choice(WORDS)}&page_size=24", name="search")
        else:
            sort = random.choice(SORTS[1:])
            self.client.get(f"/api/catalog/products/?sort={sort}&page_size=24&facets=true", name="browse")

    @task(5)
    def product_and_reviews(self) -> None:
        product = random.choice(_products)
        self.client.get(f"/api/products/{product}", name="product")
        self.client.get(f"/api/products/{product}/reviews/", name="reviews")

    @task(3)
    def add_to_cart(self) -> None:
        line = {"product_id": random.choice(_products), "quantity": 1}
        self.client.post("/api/cart/", json=line, headers=self.headers, name="cart add")

    @task(1)
    def checkout(self) -> None:
        line = {"product_id": random.choice(_products), "quantity": 1}
        self.client.post("/api/cart/", json=line, headers=self.headers, name="cart add")
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        self.client.post("/api/orders/", headers=headers, name="checkout")
