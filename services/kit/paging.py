"""Page sizes and opaque page tokens for every List RPC (keyset pagination on an int key, or on a
composite: several ints, or a time and a text key)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from services.kit import timestamps
from services.kit.errors import CommonError, DomainError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Keys are SQL BIGINTs: a token carrying a larger number is forged, and would overflow the query.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")


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
    if after is not None and not (isinstance(after, int) and _INT64_MIN <= after <= _INT64_MAX):
        raise DomainError(CommonError.INVALID_PAGE_TOKEN)
    return after


def decode_ints(token: str, count: int, tag: str | None = None) -> list[int] | None:
    """A composite key ("1.42", or "newest.1.42" with a `tag`): `count` integers, each within a
    BIGINT. None for the first page; INVALID_PAGE_TOKEN for anything else, so a forged token never
    reaches SQL with a number it cannot hold."""
    after = decode(token)
    if after is None:
        return None
    parts = after.split(".") if isinstance(after, str) else []
    if tag is not None:
        if not parts or parts[0] != tag:
            raise DomainError(CommonError.INVALID_PAGE_TOKEN)
        parts = parts[1:]
    if len(parts) != count or not all(_INT_TEXT.fullmatch(p) for p in parts):
        raise DomainError(CommonError.INVALID_PAGE_TOKEN)
    values = [int(p) for p in parts]
    if not all(_INT64_MIN <= v <= _INT64_MAX for v in values):
        raise DomainError(CommonError.INVALID_PAGE_TOKEN)
    return values


def split(rows: Sequence[T], size: int, token_after: Callable[[T], str]) -> tuple[list[T], str]:
    """Rows read with a limit of `size + 1`: this page, and the next page's token ("" when this is
    the last page), made by `token_after` from this page's last row."""
    page = list(rows[:size])
    return page, token_after(page[-1]) if len(rows) > size else ""


def encode_ints(*values: int, tag: str | None = None) -> str:
    """The token of a composite key, read back by `decode_ints` (or `decode_pair`)."""
    return encode(".".join([*([tag] if tag is not None else []), *map(str, values)]))


def decode_pair(token: str) -> tuple[int, int] | None:
    """A two-integer composite key (see `decode_ints`); None for the first page."""
    values = decode_ints(token, 2)
    return None if values is None else (values[0], values[1])


def encode_time_key(at: datetime, key: str) -> str:
    """The token of a (time, text key) composite, read back by `decode_time_key`."""
    return encode(f"{at.isoformat()}|{key}")


def decode_time_key(token: str) -> tuple[datetime, str] | None:
    """A (time, text key) composite; None for the first page. An aware time comes back in UTC,
    in range for SQL."""
    after = decode(token)
    if after is None:
        return None
    try:
        at, key = str(after).split("|", 1)
        when = datetime.fromisoformat(at)
        return (timestamps.to_utc(when) if when.tzinfo else when), key
    except ValueError as exc:
        raise DomainError(CommonError.INVALID_PAGE_TOKEN) from exc
