"""The stored form of an email: auth keeps accounts by it, the gateway's login throttles count
failures per account by it (here, so the gateway imports no service's code)."""

from __future__ import annotations

import unicodedata


def normalize_email(raw: str) -> str:
    """The stored form of an email (NFKC, stripped, lowercased): unique case-insensitively, and
    full-width and other compatibility lookalikes are the address they look like."""
    return unicodedata.normalize("NFKC", raw).strip().lower()
