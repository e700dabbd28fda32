"""Payment providers: the interface the service talks to, and the built-in test provider.

A provider answers with a `ProviderResult` or raises `ProviderDeclined` (a definite "no", with a
message the customer may see) or `ProviderUnavailable` (the provider could not be reached or did
not answer in time). `payment_id` is passed along so a real provider can deduplicate retries,
and `find(payment_id)` asks what the provider did when our record of a call was lost (the process
died while waiting for the answer): see resolver.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from typing import Protocol

from .domain import Behaviour, Method, TokenizedCard


class ProviderError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProviderDeclined(ProviderError):
    """The provider refused: card declined, insufficient funds, unknown token..."""


class ProviderUnavailable(ProviderError):
    """The provider did not answer (down or timed out)."""


@dataclass(frozen=True)
class ProviderResult:
    reference: str
    message: str = ""
    # The card behind the method, as far as the provider reports it (tokens hide it from us).
    card_last4: str = ""


@dataclass(frozen=True)
class ProviderRecord:
    """What the provider holds for a payment id."""

    reference: str  # the authorization's
    card_last4: str = ""
    capture_reference: str = ""  # "" until captured
    voided: bool = False
    refunded_minor: int = 0  # all refunds so far


class PaymentProvider(Protocol):
    name: str

    async def authorize(
        self, payment_id: str, amount_minor: int, currency: str, method: Method
    ) -> ProviderResult: ...

    async def capture(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult: ...

    async def void(self, payment_id: str, reference: str) -> ProviderResult: ...

    async def refund(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult: ...

    async def find(self, payment_id: str) -> ProviderRecord | None:
        """The provider's record of the payment's authorization, capture and void; None if the
        provider never authorized it."""
        ...


# Card numbers that select an outcome, like the big providers' test modes. Tokenizing one gives a
# token whose charge has that outcome; any other valid card approves.
APPROVE_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
TIMEOUT_CARD = "4000000000000119"
SLOW_CARD = "4000000000000077"
# How long the test provider takes to approve SLOW_CARD: time to stop a process mid-payment.
SLOW_SECONDS = 3.0

_CARD_BEHAVIOURS = {
    DECLINE_CARD: Behaviour.DECLINE,
    INSUFFICIENT_FUNDS_CARD: Behaviour.INSUFFICIENT_FUNDS,
    TIMEOUT_CARD: Behaviour.TIMEOUT,
    SLOW_CARD: Behaviour.SLOW,
}
_REFUSALS: dict[Behaviour, tuple[type[ProviderError], str]] = {
    Behaviour.DECLINE: (ProviderDeclined, "card declined"),
    Behaviour.INSUFFICIENT_FUNDS: (ProviderDeclined, "insufficient funds"),
    Behaviour.TIMEOUT: (ProviderUnavailable, "payment provider timed out"),
}

# Reusable test tokens (like Stripe's "tok_visa"): no tokenization needed, never used up.
APPROVE_TOKEN = "tok_test_visa"
DECLINE_TOKEN = "tok_test_declined"
MAGIC_TOKENS = {
    APPROVE_TOKEN: TokenizedCard(APPROVE_TOKEN, "visa", "4242", 12, 2099, Behaviour.APPROVE, reusable=True),
    DECLINE_TOKEN: TokenizedCard(DECLINE_TOKEN, "visa", "0002", 12, 2099, Behaviour.DECLINE, reusable=True),
}


def behaviour_of(number: str) -> Behaviour:
    """What the test provider does when a token made from this (valid) card number is charged."""
    return _CARD_BEHAVIOURS.get(number, Behaviour.APPROVE)


class TestProvider:
    """Deterministic and in-process: a token's behaviour (from the card it was made of, see
    `behaviour_of`) decides the outcome. What it authorized it remembers for `find` only while
    this process lives, like a sandbox reset."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self) -> None:
        self._records: dict[str, ProviderRecord] = {}

    @staticmethod
    def _reference(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:24]}"

    async def authorize(
        self, payment_id: str, amount_minor: int, currency: str, method: Method
    ) -> ProviderResult:
        card = method.card
        if card.behaviour is Behaviour.SLOW:
            await asyncio.sleep(SLOW_SECONDS)
        refusal = _REFUSALS.get(card.behaviour)
        if refusal is not None:
            error, message = refusal
            raise error(message)
        return self._authorized(payment_id, card.last4)

    def _authorized(self, payment_id: str, last4: str) -> ProviderResult:
        result = ProviderResult(self._reference("auth"), "approved", last4)
        self._records[payment_id] = ProviderRecord(result.reference, last4)
        return result

    async def capture(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        result = ProviderResult(self._reference("cap"), "captured")
        self._update(payment_id, capture_reference=result.reference)
        return result

    async def void(self, payment_id: str, reference: str) -> ProviderResult:
        self._update(payment_id, voided=True)
        return ProviderResult(self._reference("void"), "voided")

    async def refund(
        self, payment_id: str, reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        record = self._records.get(payment_id)
        if record is not None:
            self._update(payment_id, refunded_minor=record.refunded_minor + amount_minor)
        return ProviderResult(self._reference("re"), "refunded")

    async def find(self, payment_id: str) -> ProviderRecord | None:
        return self._records.get(payment_id)

    def _update(self, payment_id: str, **changes: str | bool | int) -> None:
        record = self._records.get(payment_id)
        if record is not None:
            self._records[payment_id] = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
