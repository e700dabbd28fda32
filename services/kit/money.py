"""Money is integer minor units plus an ISO 4217 currency code, end to end."""

from __future__ import annotations

from services.kit.errors import invalid
from shop.common.v1 import common_pb2

# Far above any real price, far below int64 overflow when multiplied by a quantity.
MAX_AMOUNT_MINOR = 10**12


def validated(money: common_pb2.Money, field: str, *, allow_zero: bool = True) -> common_pb2.Money:
    if money.amount_minor < 0 or (not allow_zero and money.amount_minor == 0):
        raise invalid(f"{field} must be {'zero or ' if allow_zero else ''}positive")
    if money.amount_minor > MAX_AMOUNT_MINOR:
        raise invalid(f"{field} is too large")
    if len(money.currency) != 3 or not money.currency.isalpha() or not money.currency.isupper():
        raise invalid(f"{field} needs a three-letter ISO 4217 currency code such as USD")
    return money


def of(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)
