"""The route table: every endpoint of the API, one module per REST resource."""

from __future__ import annotations

from gateway.routes import auth, cart, health, inventory, orders, products, reviews
from gateway.routing import Route

ROUTES: tuple[Route, ...] = (
    *health.ROUTES,
    *auth.ROUTES,
    *products.ROUTES,
    *reviews.ROUTES,
    *cart.ROUTES,
    *orders.ROUTES,
    *inventory.ROUTES,
)
