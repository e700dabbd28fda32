"""Profile rules without I/O: what a valid display name, phone number, preference and postal
address are, and the stored (normalised) form of each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.kit.countries import COUNTRIES
from services.kit.errors import ErrorCode, Kind, invalid
from services.kit.text import has_invisible

MAX_DISPLAY_NAME = 100
MAX_LABEL = 50
MAX_ADDRESSES = 20
MAX_NAME = 100
MAX_LINE = 200
MAX_CITY = 100
MAX_REGION = 100
MAX_POSTAL_CODE = 20
MAX_LOCALE = 35

# E.164: a "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What people type between the digits of a phone number.
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
# A BCP 47 tag in its common shape: language, then subtags ("en", "en-US", "zh-Hant-TW").
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_CURRENCY = re.compile(r"[A-Z]{3}")
_POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 \-]*")


class ProfileError(ErrorCode):
    USER_NOT_FOUND = Kind.NOT_FOUND, "user not found"
    ADDRESS_NOT_FOUND = Kind.NOT_FOUND, "address not found"
    NO_DEFAULT_ADDRESS = Kind.NOT_FOUND, "the user has no address"
    TOO_MANY_ADDRESSES = Kind.FAILED_PRECONDITION, f"at most {MAX_ADDRESSES} addresses per user"


@dataclass(frozen=True)
class PostalAddress:
    """A validated postal address in its stored form."""

    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


def _text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise invalid(f"{field} is required")
    if len(text) > limit:
        raise invalid(f"{field} must be at most {limit} characters")
    if has_invisible(text):
        raise invalid(f"{field} must not contain control characters")
    return text


def display_name(value: str) -> str:
    """Empty clears it."""
    return _text(value, "display_name", MAX_DISPLAY_NAME)


def label(value: str) -> str:
    return _text(value, "label", MAX_LABEL)


def phone(value: str, field: str = "phone") -> str:
    """An E.164 number ("+14155550123"); spaces, dashes, dots and brackets are dropped. Empty clears it."""
    text = value.strip()
    if not text:
        return ""
    compact = _PHONE_SEPARATORS.sub("", text)
    if len(text) > 32 or not _E164.fullmatch(compact):
        raise invalid(f"{field} must be an international number such as +14155550123")
    return compact


def locale(value: str) -> str:
    """Empty uses the shop default."""
    text = value.strip()
    if text and (len(text) > MAX_LOCALE or not _LOCALE.fullmatch(text)):
        raise invalid("locale must be a language tag such as en-US")
    return text


def currency(value: str) -> str:
    """Empty uses the shop default."""
    text = value.strip().upper()
    if text and not _CURRENCY.fullmatch(text):
        raise invalid("currency must be an ISO 4217 code such as USD")
    return text


def country(value: str) -> str:
    code = value.strip().upper()
    if not code:
        raise invalid("address.country is required")
    if code not in COUNTRIES:
        raise invalid("address.country must be an ISO 3166-1 alpha-2 code such as US")
    return code


def postal_code(value: str) -> str:
    code = _text(value, "address.postal_code", MAX_POSTAL_CODE, required=True)
    if not _POSTAL_CODE.fullmatch(code):
        raise invalid("address.postal_code may hold only letters, digits, spaces and dashes")
    return code


def postal_address(
    *,
    name: str,
    line1: str,
    line2: str,
    city: str,
    region: str,
    postal_code_: str,
    country_: str,
    phone_: str,
) -> PostalAddress:
    return PostalAddress(
        name=_text(name, "address.name", MAX_NAME),
        line1=_text(line1, "address.line1", MAX_LINE, required=True),
        line2=_text(line2, "address.line2", MAX_LINE),
        city=_text(city, "address.city", MAX_CITY, required=True),
        region=_text(region, "address.region", MAX_REGION),
        postal_code=postal_code(postal_code_),
        country=country(country_),
        phone=phone(phone_, "address.phone"),
    )
