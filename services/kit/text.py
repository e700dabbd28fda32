"""Characters no free-text field takes: controls (C0, DEL, C1), invisible formatting characters
(zero-width, bidi overrides, soft hyphen), separators other than the plain space, and private-use
characters. One character class, written so that Python's `re`, the Rust regex engine pydantic uses
and ECMAScript all read it alike: the gateway's OpenAPI document states it as a `pattern` and the
services refuse the same characters. Unassigned code points are allowed, so the rule does not move
with the Unicode version of whoever checks it.
"""

from __future__ import annotations

import re

from services.kit.errors import invalid

INVISIBLE_CLASS = (
    r"\x00-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ue000-\uf8ff\ufeff\ufff9-\ufffb"
)
# Text of these characters only (may be empty), and text with something besides spaces in it.
PLAIN_TEXT_PATTERN = rf"^[^{INVISIBLE_CLASS}]*$"
NON_BLANK_TEXT_PATTERN = rf"^[^{INVISIBLE_CLASS}]*[^{INVISIBLE_CLASS} ][^{INVISIBLE_CLASS}]*$"

_INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]")


def has_invisible(text: str) -> bool:
    """Whether the text holds a character no text field takes (or a lone surrogate)."""
    return _INVISIBLE.search(text) is not None or any("\ud800" <= ch <= "\udfff" for ch in text)


def bounded(value: str, field: str, limit: int) -> str:
    """The text without surrounding white space; INVALID_ARGUMENT when longer than `limit`."""
    text = value.strip()
    if len(text) > limit:
        raise invalid(f"{field} must be at most {limit} characters")
    return text
