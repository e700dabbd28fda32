"""The route table: every endpoint of the API, one module per REST resource."""

from __future__ import annotations

from gateway.product_cache import publishing_changes
from gateway.routes import (
    activity,
    auth,
    cart,
    catalog,
    content,
    guest_cart,
    health,
    inventory,
    orders,
    products,
    profile,
    reviews,
    session,
    shipping,
)
from gateway.routing import Route

ROUTES: tuple[Route, ...] = publishing_changes(
    (
        *health.ROUTES,
        *auth.ROUTES,
        *session.ROUTES,
        *products.ROUTES,
        *catalog.ROUTES,
        *activity.ROUTES,
        *reviews.ROUTES,
        *cart.ROUTES,
        *guest_cart.ROUTES,
        *orders.ROUTES,
        *inventory.ROUTES,
        *content.ROUTES,
        *shipping.ROUTES,
        *profile.ROUTES,
    )
)
