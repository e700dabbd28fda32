"""Page sizes and opaque page tokens for every List RPC (keyset pagination on an int key)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.kit.errors import CommonError, DomainError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if requested < 0:
        raise DomainError(CommonError.INVALID_ARGUMENT, "page_size must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


def encode(after: int | str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode(token: str) -> int | str | None:
    """The key the next page starts after; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise DomainError(CommonError.INVALID_PAGE_TOKEN) from exc
    if not isinstance(after, int | str) or isinstance(after, bool):
        raise DomainError(CommonError.INVALID_PAGE_TOKEN)
    return after


def decode_int(token: str) -> int | None:
    after = decode(token)
    if after is not None and not isinstance(after, int):
        raise DomainError(CommonError.INVALID_PAGE_TOKEN)
    return after


def split(rows: Sequence[T], size: int, token_after: Callable[[T], str]) -> tuple[list[T], str]:
    """Rows read with a limit of `size + 1`: this page, and the next page's token ("" when this is
    the last page), made by `token_after` from this page's last row."""
    page = list(rows[:size])
    return page, token_after(page[-1]) if len(rows) > size else ""
