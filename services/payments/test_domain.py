from __future__ import annotations

from datetime import date

import pytest

from services.kit.errors import DomainError

from . import domain

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000009995", True),
        ("4000000000000119", True),
        ("79927398713", True),
        ("4242424242424241", False),
        ("42424242424242a2", False),
        ("", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert domain.luhn_valid(number) is valid


def test_a_good_card_passes_and_keeps_only_digits() -> None:
    card = domain.validate_card("4242 4242 4242 4242", 6, 2026, "123", TODAY)
    assert (card.number, card.last4, card.exp_year) == ("4242424242424242", "4242", 2026)
    assert domain.validate_card("4242424242424242", 1, 30, "1234", TODAY).exp_year == 2030


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "problem"),
    [
        ("4242424242424241", 12, 2030, "123", "invalid"),
        ("4242", 12, 2030, "123", "12 to 19 digits"),
        ("4242424242424242", 0, 2030, "123", "month"),
        ("4242424242424242", 13, 2030, "123", "month"),
        ("4242424242424242", 5, 2026, "123", "expired"),
        ("4242424242424242", 12, 2025, "123", "expired"),
        ("4242424242424242", 12, 2030, "12", "CVC"),
        ("4242424242424242", 12, 2030, "12345", "CVC"),
        ("4242424242424242", 12, 2030, "12a", "CVC"),
    ],
)
def test_bad_cards_are_invalid_argument(number: str, month: int, year: int, cvc: str, problem: str) -> None:
    with pytest.raises(DomainError) as err:
        domain.validate_card(number, month, year, cvc, TODAY)
    assert err.value.code.kind.name == "INVALID_ARGUMENT"
    assert problem in err.value.message


def test_refund_amounts() -> None:
    assert domain.refund_amount(None, 1000, 300) == 700
    assert domain.refund_amount(700, 1000, 300) == 700
    with pytest.raises(DomainError):
        domain.refund_amount(701, 1000, 300)
    with pytest.raises(DomainError):
        domain.refund_amount(None, 1000, 1000)
    assert domain.status_after_refund(1000, 1000) is domain.Status.REFUNDED
    assert domain.status_after_refund(1000, 1) is domain.Status.PARTIALLY_REFUNDED
