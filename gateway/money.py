"""REST prices are JSON numbers in the shop's currency (100.00); services get integer minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from services.kit.money import MAX_AMOUNT_MINOR
from shop.common.v1 import common_pb2

# The largest price the REST API accepts, in major units.
MAX_PRICE = MAX_AMOUNT_MINOR // 100


def minor_units(value: float) -> int:
    """Exact cents of a JSON number; ValueError if it has more than two decimals."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("must be a number") from exc
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError("must have at most 2 decimal places")
    return int(cents)


def to_proto(value: float, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor_units(value), currency=currency)


def from_minor(amount_minor: int) -> float:
    """Cents back to the documented number (19.99, 100.0)."""
    return float(Decimal(amount_minor).scaleb(-2))


def from_proto(money: common_pb2.Money) -> float:
    return from_minor(int(money.amount_minor))
