"""What every provider-calling operation shares: the request runs once per idempotency key (later
requests with the key get the same answer), the payment counts as in flight meanwhile (the resolver
leaves it alone), and a failed provider call is recorded and translated in one place."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from services.kit import completion
from services.kit.errors import DomainError

from . import metrics
from .domain import Operation, PaymentsError, Status
from .providers import PaymentProvider, ProviderDeclined, ProviderError
from .store import KeyRecord, PaymentsStore, PaymentView

# How long a replay waits for the first request with its key to finish.
SETTLE_WAIT_SECONDS = 10.0
SETTLE_POLL_SECONDS = 0.02
MAX_ATTEMPTS = 3

T = TypeVar("T")
Perform = Callable[[KeyRecord], Coroutine[Any, Any, PaymentView]]
# Records a failed provider call: (the message to keep, whether the provider declined).
Failed = Callable[[str, bool], Awaitable[None]]


def provider_error(exc: ProviderError) -> DomainError:
    """The caller's error for a provider's refusal or failure."""
    if isinstance(exc, ProviderDeclined):
        return DomainError(PaymentsError.DECLINED, exc.message)
    return DomainError(PaymentsError.PROVIDER_UNAVAILABLE, exc.message)


async def calling(call: Awaitable[T], failed: Failed) -> T:
    """The provider call's answer; when it raises, `failed` records that first, then the caller
    gets the provider's error translated (anything else is re-raised as it is)."""
    try:
        return await call
    except Exception as exc:
        message = exc.message if isinstance(exc, ProviderError) else "internal error"
        await failed(message, isinstance(exc, ProviderDeclined))
        if isinstance(exc, ProviderError):
            raise provider_error(exc) from exc
        raise


def declined_message(view: PaymentView) -> str:
    for event in reversed(view.events):
        if event.type == "declined" and event.message:
            return event.message
    return PaymentsError.DECLINED.message


@dataclass
class Flow:
    store: PaymentsStore
    provider: PaymentProvider
    clock: Callable[[], datetime]
    # Idempotency keys with a request running in this process, from before the claim is written
    # until the provider's answer is recorded: the resolver leaves them alone. Counted, as two
    # requests of one key may be here at once.
    in_flight: Counter[str] = field(default_factory=Counter)

    async def view(self, payment_id: str) -> PaymentView:
        view = await self.store.get(payment_id)
        if view is None:
            raise DomainError(PaymentsError.PAYMENT_NOT_FOUND, f"payment {payment_id} not found")
        return view

    async def once(
        self,
        key: str,
        operation: Operation,
        fingerprint: str,
        claim: Callable[[], Awaitable[tuple[KeyRecord, bool]]],
        perform: Perform,
    ) -> PaymentView:
        """Performs the request once per key; later requests with the key get the same answer."""
        for _ in range(MAX_ATTEMPTS):
            # Marked before the claim is written: a claim slower than the resolver's "abandoned"
            # age must not be taken for an abandoned one between its commit and its provider call.
            self._enter(key)
            try:
                record, owned = await claim()
            except BaseException:
                self._leave(key)
                raise
            if owned:
                # The provider's answer is recorded even if this RPC is cancelled meanwhile; the
                # key stays marked until then.
                return await completion.to_completion(self._tracked(key, record, perform))
            self._leave(key)
            if record.operation != operation.value or record.fingerprint != fingerprint:
                raise DomainError(PaymentsError.KEY_REUSED)
            settled = await self._settled(key)
            if settled is None:
                continue  # the first request failed and freed the key: this one may try
            view = await self.view(settled.payment_id)
            if view.payment.status == Status.DECLINED:
                raise DomainError(PaymentsError.DECLINED, declined_message(view))
            return view
        raise DomainError(PaymentsError.IN_PROGRESS)

    async def _settled(self, key: str) -> KeyRecord | None:
        """Waits for the request holding `key` to finish; None if it failed and let the key go."""
        give_up = time.monotonic() + SETTLE_WAIT_SECONDS
        while True:
            record = await self.store.key(key)
            if record is None or record.completed:
                return record
            if time.monotonic() > give_up:
                raise DomainError(PaymentsError.IN_PROGRESS)
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    async def _tracked(self, key: str, record: KeyRecord, perform: Perform) -> PaymentView:
        try:
            with metrics.operation(record.operation):
                return await perform(record)
        finally:
            self._leave(key)

    def _enter(self, key: str) -> None:
        self.in_flight[key] += 1

    def _leave(self, key: str) -> None:
        self.in_flight[key] -= 1
        if self.in_flight[key] <= 0:
            del self.in_flight[key]
