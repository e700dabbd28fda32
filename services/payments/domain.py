"""Pure payment rules: card checks, card tokens, payment methods, statuses and refund arithmetic
(no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from services.kit.errors import DomainError, ErrorCode, Kind, invalid

MAX_KEY = 200
MAX_REFERENCE = 200
MAX_TOKEN = 200
MAX_REASON = 500
# Prefix of the single-use tokens the tokenization endpoint hands out.
TOKEN_PREFIX = "tok_"


class PaymentsError(ErrorCode):
    PAYMENT_NOT_FOUND = Kind.NOT_FOUND, "payment not found"
    DECLINED = Kind.FAILED_PRECONDITION, "card declined"
    PROVIDER_UNAVAILABLE = Kind.UNAVAILABLE, "payment provider unavailable"
    WRONG_STATUS = Kind.FAILED_PRECONDITION, "payment is not in a state that allows this"
    REFUND_EXCEEDS = Kind.FAILED_PRECONDITION, "refund exceeds the refundable amount"
    KEY_REUSED = Kind.INVALID_ARGUMENT, "idempotency key was already used for a different request"
    IN_PROGRESS = Kind.ABORTED, "a request with this idempotency key is still in progress"
    CARD_REFUSED = Kind.INVALID_ARGUMENT, "card data is not accepted; tokenize it first"
    UNKNOWN_TOKEN = Kind.INVALID_ARGUMENT, "unknown payment token"
    TOKEN_USED = Kind.FAILED_PRECONDITION, "payment token was already used; tokenize the card again"
    TOKEN_EXPIRED = Kind.FAILED_PRECONDITION, "payment token has expired; tokenize the card again"


class Status(enum.StrEnum):
    """Stored payment statuses. PENDING, CAPTURING and VOIDING are held only while the provider
    is being called; the rest match the contract's PaymentStatus."""

    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURING = "capturing"
    CAPTURED = "captured"
    VOIDING = "voiding"
    VOIDED = "voided"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DECLINED = "declined"
    FAILED = "failed"


REFUNDABLE = frozenset({Status.CAPTURED, Status.PARTIALLY_REFUNDED})


class Operation(enum.StrEnum):
    """What an idempotency key was first used for."""

    CHARGE = "charge"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class Behaviour(enum.StrEnum):
    """What the test provider does when a tokenized card is charged (chosen by the card number)."""

    APPROVE = "approve"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    TIMEOUT = "timeout"
    SLOW = "slow"


@dataclass(frozen=True)
class CardDetails:
    """A card as the tokenization endpoint receives it; lives only for that one request."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        # Never the number or the CVC, even in a traceback's or a debugger's repr.
        return f"CardDetails(last4={self.last4!r}, exp={self.exp_month}/{self.exp_year})"


@dataclass(frozen=True)
class TokenizedCard:
    """What a token stands for: all that is kept of a card (never its number or CVC)."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    behaviour: Behaviour
    # The magic test tokens ("tok_test_visa") are reusable; tokens made from a card are single-use.
    reusable: bool = False


@dataclass(frozen=True)
class Method:
    """A validated payment method: a known token and the card it stands for."""

    token: str
    card: TokenizedCard

    @property
    def last4(self) -> str:
        return self.card.last4

    @property
    def single_use(self) -> bool:
        return not self.card.reusable

    def fingerprint(self) -> str:
        return f"token:{self.token}"


# Issuer identification ranges of the common brands: (brand, prefixes as (low, high) of equal length).
_BRANDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("amex", (("34", "34"), ("37", "37"))),
    ("mastercard", (("51", "55"), ("2221", "2720"))),
    ("discover", (("6011", "6011"), ("644", "649"), ("65", "65"))),
    ("diners", (("300", "305"), ("36", "36"), ("38", "39"))),
    ("jcb", (("3528", "3589"),)),
    ("unionpay", (("62", "62"),)),
    ("visa", (("4", "4"),)),
)


def brand_of(number: str) -> str:
    """The card brand its number's prefix names ("unknown" when none matches)."""
    for brand, ranges in _BRANDS:
        for low, high in ranges:
            if low <= number[: len(low)] <= high:
                return brand
    return "unknown"


def luhn_valid(number: str) -> bool:
    if not (number.isascii() and number.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def validate_card(number: str, exp_month: int, exp_year: int, cvc: str, today: date) -> CardDetails:
    """Checks a card's shape: raises INVALID_ARGUMENT with the first problem found."""
    digits = number.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        raise invalid("card number must be 12 to 19 digits")
    if not luhn_valid(digits):
        raise invalid("card number is invalid")
    if not 1 <= exp_month <= 12:
        raise invalid("card expiry month must be between 1 and 12")
    year = exp_year + 2000 if 0 <= exp_year < 100 else exp_year
    if not 2000 <= year <= 2200:
        raise invalid("card expiry year is invalid")
    # A card is valid through the last day of its expiry month.
    if (year, exp_month) < (today.year, today.month):
        raise invalid("card has expired")
    if not (cvc.isascii() and cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise invalid("card CVC must be 3 or 4 digits")
    return CardDetails(digits, exp_month, year, cvc)


def validate_token(token: str) -> str:
    value = token.strip()
    if not value:
        raise invalid("payment token must not be empty")
    if len(value) > MAX_TOKEN:
        raise invalid(f"payment token must be at most {MAX_TOKEN} characters")
    return value


def idempotency_key(value: str) -> str:
    key = value.strip()
    if not key:
        raise invalid("idempotency_key is required")
    if len(key) > MAX_KEY:
        raise invalid(f"idempotency_key must be at most {MAX_KEY} characters")
    return key


def order_reference(value: str) -> str:
    reference = value.strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise invalid(f"order_reference is required (at most {MAX_REFERENCE} characters)")
    return reference


def refund_amount(requested: int | None, amount_minor: int, refunded_minor: int) -> int:
    """What a refund takes: everything left when `requested` is None. Raises when nothing fits."""
    left = amount_minor - refunded_minor
    if requested is None:
        if left <= 0:
            raise DomainError(PaymentsError.REFUND_EXCEEDS, "payment is already fully refunded")
        return left
    if requested > left:
        raise DomainError(
            PaymentsError.REFUND_EXCEEDS, f"refund of {requested} exceeds the refundable amount of {left}"
        )
    return requested


def status_after_refund(amount_minor: int, refunded_minor: int) -> Status:
    return Status.REFUNDED if refunded_minor >= amount_minor else Status.PARTIALLY_REFUNDED
