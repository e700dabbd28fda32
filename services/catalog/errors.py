"""The catalog's error codes (mapped to gRPC statuses once, in the kit)."""

from __future__ import annotations

from services.kit.errors import ErrorCode, Kind


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
