"""Walks the whole documented REST API against a running platform, curl-style, and checks that
every answer is exactly the documented one.

    python -m tests.e2e.walk_api --base http://localhost:5000/api \
        --admin-email admin@example.com --admin-password "$(cat data/admin_password)"

Exits 0 when every step matched, 1 at the first mismatch (printing what came back).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any


class Mismatch(AssertionError):
    pass


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Client:
    base: str
    verbose: bool = True

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base.rstrip("/") + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                reply = Reply(response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as err:
            reply = Reply(err.code, json.loads(err.read() or b"null"))
        if self.verbose:
            print(f"{method:6} {path:32} -> {reply.status} {json.dumps(reply.body)[:150]}")
        return reply


def expect(reply: Reply, status: int, body: Any = None) -> Any:
    if reply.status != status:
        raise Mismatch(f"expected status {status}, got {reply.status}: {reply.body}")
    if body is not None and reply.body != body:
        raise Mismatch(f"expected body {body!r}, got {reply.body!r}")
    return reply.body


def expect_error(reply: Reply, status: int) -> None:
    expect(reply, status)
    if not (isinstance(reply.body, dict) and isinstance(reply.body.get("error"), str)):
        raise Mismatch(f"expected an {{'error': ...}} body, got {reply.body!r}")


def walk(api: Client, admin_email: str, admin_password: str) -> None:
    run = uuid.uuid4().hex[:8]

    # 4. User authentication
    email = f"shopper-{run}@example.com"
    registered = expect(
        api.call("POST", "/auth/register/", {"email": email, "password": "securepassword"}), 201
    )
    user_id = registered["user_id"]
    expect(api.call("POST", "/auth/register/", {"email": email, "password": "securepassword"}), 409)
    assert registered == {"user_id": user_id, "message": "User registered"}, registered
    token = expect(api.call("POST", "/auth/login/", {"email": email, "password": "securepassword"}), 200)[
        "token"
    ]
    expect_error(api.call("POST", "/auth/login/", {"email": email, "password": "wrong-password"}), 401)
    expect(api.call("GET", "/auth/me/", token=token), 200, {"user_id": user_id, "email": email})
    admin = expect(api.call("POST", "/auth/login/", {"email": admin_email, "password": admin_password}), 200)[
        "token"
    ]

    # 1. Product management
    product = {"name": f"Product {run}", "price": 100.00, "description": "Product Description", "stock": 50}
    expect_error(api.call("POST", "/products/", product, token=token), 403)
    expect_error(api.call("POST", "/products/", product), 401)
    pid = expect(api.call("POST", "/products/", product, token=admin), 201)["id"]
    other = api.call("POST", "/products/", {**product, "name": f"Other {run}"}, token=admin).body["id"]
    expect(
        api.call("PUT", f"/products/{pid}", {"price": 90.00}, token=admin),
        200,
        {"message": "Product updated"},
    )
    listing = expect(api.call("GET", "/products/"), 200)
    want = {"name": product["name"], "price": 90.0, "description": "Product Description", "stock": 50}
    if listing.get(str(pid)) != want:
        raise Mismatch(f"product {pid} listed as {listing.get(str(pid))!r}, expected {want!r}")

    # 5. Reviews
    review = {"rating": 5, "comment": "Great product!"}
    expect(
        api.call("POST", f"/products/{pid}/reviews/", review, token=token), 201, {"message": "Review added"}
    )
    expect(api.call("GET", f"/products/{pid}/reviews/"), 200, [review])

    # 6. Inventory management
    expect_error(api.call("GET", "/inventory/", token=token), 403)
    if expect(api.call("GET", "/inventory/", token=admin), 200).get(str(pid)) != 50:
        raise Mismatch("inventory does not show the product's 50 units")
    expect(
        api.call("PUT", f"/inventory/{pid}/", {"stock": 100}, token=admin), 200, {"message": "Stock updated"}
    )

    def stock() -> int:
        level: int = api.call("GET", "/inventory/", token=admin).body[str(pid)]
        return level

    if stock() != 100:
        raise Mismatch("stock update did not take")

    # 2. Shopping cart
    added = expect(api.call("POST", "/cart/", {"product_id": pid, "quantity": 2}, token=token), 201)
    item_id = added["item_id"]
    assert added == {"item_id": item_id, "message": "Item added to cart"}, added
    extra = expect(api.call("POST", "/cart/", {"product_id": other, "quantity": 1}, token=token), 201)[
        "item_id"
    ]
    expect(api.call("DELETE", f"/cart/{extra}", token=token), 200, {"message": "Item removed from cart"})
    expect(api.call("GET", "/cart/", token=token), 200, {str(item_id): {"product_id": pid, "quantity": 2}})

    # Another shopper sees none of it.
    other_email = f"other-{run}@example.com"
    expect(api.call("POST", "/auth/register/", {"email": other_email, "password": "securepassword"}), 201)
    other_token = api.call("POST", "/auth/login/", {"email": other_email, "password": "securepassword"}).body[
        "token"
    ]
    expect(api.call("GET", "/cart/", token=other_token), 200, {})

    # 3. Orders
    created = expect(api.call("POST", "/orders/", token=token), 201)
    order_id = created["order_id"]
    assert created == {"order_id": order_id, "message": "Order created and payment processed"}, created
    expect(
        api.call("GET", f"/orders/{order_id}", token=token),
        200,
        {"order_id": order_id, "items": [{"product_id": pid, "quantity": 2}], "total": 180.0},
    )
    if stock() != 98:
        raise Mismatch(f"stock should be 98 after ordering 2, is {stock()}")
    expect(api.call("GET", "/cart/", token=token), 200, {})
    expect_error(api.call("GET", f"/orders/{order_id}", token=other_token), 404)
    expect_error(api.call("POST", f"/orders/{order_id}/cancel", token=other_token), 404)
    expect(
        api.call("POST", f"/orders/{order_id}/cancel", token=token),
        200,
        {"message": "Order canceled and refunded"},
    )
    if stock() != 100:
        raise Mismatch(f"stock should be back to 100 after cancelling, is {stock()}")
    expect_error(api.call("POST", f"/orders/{order_id}/cancel", token=token), 409)

    # Clean-up paths of the API: delete a product, log out.
    expect(api.call("DELETE", f"/products/{other}", token=admin), 200, {"message": "Product deleted"})
    expect_error(api.call("DELETE", f"/products/{other}", token=admin), 404)
    expect_error(api.call("GET", "/no/such/path"), 404)
    expect(api.call("POST", "/auth/logout/", token=token), 200)
    expect_error(api.call("GET", "/auth/me/", token=token), 401)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="http://localhost:5000/api")
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    try:
        walk(Client(args.base, verbose=not args.quiet), args.admin_email, args.admin_password)
    except (Mismatch, AssertionError) as exc:
        print(f"MISMATCH: {exc}", file=sys.stderr)
        return 1
    print("every documented endpoint answered as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
