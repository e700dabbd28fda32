"""JSON text from a client, parsed the one careful way (REST bodies, signed carrier webhooks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str, *, parse_float: Callable[[str], Any] = float) -> Any:
    """Like `json.loads`, but every kind of bad input is a ValueError: NaN and Infinity (not JSON),
    bytes that are not UTF-8, integers of more digits than Python converts, and nesting deeper
    than the parser's recursion limit (a few thousand `[`s are otherwise a RecursionError)."""
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=parse_float)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
