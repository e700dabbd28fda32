"""Cart rules that need no I/O: limits, error codes and request validation."""

from __future__ import annotations

import re

from services.kit.errors import ErrorCode, Kind, invalid

MAX_QUANTITY = 99
MAX_LINES = 50
DEFAULT_TTL_SECONDS = 30 * 24 * 3600
_GUEST_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class CartError(ErrorCode):
    PRODUCT_NOT_FOUND = Kind.NOT_FOUND, "product not found"
    ITEM_NOT_FOUND = Kind.NOT_FOUND, "item not in cart"
    CART_FULL = Kind.FAILED_PRECONDITION, "cart is full"
    # A valid quantity that the line, as it stands, cannot take: a conflict with the cart's state.
    LINE_FULL = Kind.FAILED_PRECONDITION, "the line would hold more than 99"


def product_id(value: int) -> int:
    if value <= 0:
        raise invalid("product_id must be positive")
    return value


def item_id(value: int) -> int:
    if value <= 0:
        raise invalid("item_id must be positive")
    return value


def quantity(value: int, *, allow_zero: bool = False) -> int:
    """1..MAX_QUANTITY per line (0 too where it means "remove")."""
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_QUANTITY:
        raise invalid(f"quantity must be between {low} and {MAX_QUANTITY}")
    return value


def guest_owner(guest_id: str) -> str:
    """The cart owner of a guest id (the gateway's guest cookie: 16 to 64 URL-safe characters)."""
    if not _GUEST_ID.fullmatch(guest_id):
        raise invalid("guest_id must be 16 to 64 characters of A-Z, a-z, 0-9, - and _")
    return f"guest:{guest_id}"
