"""The catalog's pure rules: slugs, statuses, the category tree, images, price bands."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from services.kit.errors import ErrorCode, Kind

SLUG_MAX = 120
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# The catalog's error codes (mapped to gRPC statuses once, in the kit).
class CatalogError(ErrorCode):
    PRODUCT_NOT_FOUND = Kind.NOT_FOUND, "product not found"
    CATEGORY_NOT_FOUND = Kind.NOT_FOUND, "category not found"
    UPLOAD_NOT_FOUND = Kind.NOT_FOUND, "upload not found"
    SLUG_TAKEN = Kind.ALREADY_EXISTS, "slug is taken"
    SKU_TAKEN = Kind.ALREADY_EXISTS, "SKU is taken"
    CATEGORY_CYCLE = Kind.FAILED_PRECONDITION, "a category cannot move under itself or its descendants"
    CATEGORY_HAS_CHILDREN = Kind.FAILED_PRECONDITION, "the category has subcategories"
    INVALID_IMAGES = Kind.INVALID_ARGUMENT, "invalid images"
    UNSUPPORTED_MEDIA = Kind.INVALID_ARGUMENT, "unsupported image type"
    UPLOAD_TOO_LARGE = Kind.INVALID_ARGUMENT, "upload too large"
    # A product's stock, set in inventory with the product (stock.py): inventory's answers.
    STOCK_REFUSED = Kind.FAILED_PRECONDITION, "inventory refused the stock"
    INVENTORY_UNAVAILABLE = Kind.UNAVAILABLE, "inventory service unavailable"
    INVENTORY_TIMED_OUT = Kind.DEADLINE_EXCEEDED, "inventory service timed out"


class Status(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


def slugify(text: str, fallback: str) -> str:
    """ "Crème Brûlée 2" -> "creme-brulee-2"; `fallback` when nothing is left. A slug that is all
    digits would read as an id in URLs ("/products/{ref}"), so it gets the fallback as prefix."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_MAX].strip("-")
    if not slug:
        return fallback
    return f"{fallback}-{slug}" if slug.isdigit() else slug


def valid_slug(slug: str) -> bool:
    """Lowercase words of letters and digits joined by single hyphens, not all digits."""
    return len(slug) <= SLUG_MAX and bool(_SLUG.match(slug)) and not slug.replace("-", "").isdigit()


def child_path(parent_path: str, category_id: int) -> str:
    """Materialised path: "/1/4/" is category 4 under 1; a subtree is every path with its prefix."""
    return f"{parent_path or '/'}{category_id}/"


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def is_within(path: str, ancestor_path: str) -> bool:
    """`path` is `ancestor_path` itself or lies under it: a move there would make a cycle."""
    return path.startswith(ancestor_path)


@dataclass(frozen=True)
class ImageSpec:
    url: str
    alt_text: str
    primary: bool


def primary_index(images: Sequence[ImageSpec]) -> int | None:
    """Which image is primary: the one marked, else the first; None when there are none.
    Raises ValueError when more than one is marked."""
    marked = [i for i, image in enumerate(images) if image.primary]
    if len(marked) > 1:
        raise ValueError("at most one image may be primary")
    if not images:
        return None
    return marked[0] if marked else 0


@dataclass(frozen=True)
class PriceBand:
    min_minor: int
    max_minor: int | None  # inclusive; None for the open-ended top band


# In minor units: 0-9.99, 10-24.99, 25-49.99, 50-99.99, 100-249.99, 250-499.99, 500+.
_EDGES = (0, 1000, 2500, 5000, 10000, 25000, 50000)
PRICE_BANDS = tuple(
    PriceBand(low, high - 1 if high is not None else None)
    for low, high in zip(_EDGES, (*_EDGES[1:], None), strict=True)
)
