"""The cart service's metrics, declared once."""

from __future__ import annotations

from prometheus_client import Counter

CART_ADDS = Counter("shop_cart_adds_total", "Products added to carts (AddItem calls that succeeded)")
CART_ADDED_UNITS = Counter("shop_cart_added_units_total", "Units added to carts")


def added(quantity: int) -> None:
    CART_ADDS.inc()
    CART_ADDED_UNITS.inc(quantity)
