"""Finishing provider calls whose outcome payments never recorded.

A request claims its idempotency key, calls the provider and records the answer. If the process
dies while waiting for the provider, the key stays claimed and unfinished: replays would wait and
give up forever, and the money may or may not have moved. The resolver takes every key left
unfinished for `after` (far longer than any provider call lasts) and asks the provider what it
did with that payment id (`PaymentProvider.find`):

    charge / authorize   captured -> CAPTURED; authorized -> AUTHORIZED for an authorization,
                         voided for a charge (its caller gave up long ago); nothing -> FAILED
    capture / void       done at the provider -> CAPTURED / VOIDED; not done -> back to AUTHORIZED
    refund               the provider's refunded total covers ours (which counts this refund)
                         -> refunded; otherwise the reserved amount is given back

A FAILED charge or a given-back refund frees its key, so the caller's retry with the same key
tries anew; a settled one answers replays as usual. Keys of calls still running in this process
are left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container
from datetime import timedelta

from services.kit import timestamps
from services.kit.lease import Lease, exclusive

from . import metrics
from .domain import Operation, Status
from .providers import PaymentProvider, ProviderError, ProviderRecord
from .store import Event, KeyRecord, PaymentRow, PaymentsStore

log = logging.getLogger(__name__)

BATCH = 100
_LOST = "no answer was recorded"


class Resolver:
    def __init__(
        self, store: PaymentsStore, provider: PaymentProvider, in_flight: Container[str], after: timedelta
    ) -> None:
        self._store = store
        self._provider = provider
        self._in_flight = in_flight
        self._after = after

    async def run(self, interval_seconds: float, lease: Lease | None = None) -> None:
        """One pass now, then one every interval (0: only the one), by whichever replica holds the
        lease (two replicas asking the provider about one payment would settle it twice)."""
        while True:
            try:
                ran, settled = await exclusive(lease, self.run_once)
                if ran:
                    metrics.resolver_pass(settled)
            except Exception as exc:  # a database or provider hiccup must not end the loop
                metrics.resolver_pass(None)
                log.warning("resolver pass failed", extra={"error": repr(exc)})
            if interval_seconds <= 0:
                return
            await asyncio.sleep(interval_seconds)

    async def run_once(self) -> int:
        """Resolves what it can; returns how many keys it settled or freed."""
        resolved = 0
        for record, payment in await self._store.unfinished(timestamps.now() - self._after, BATCH):
            if record.key in self._in_flight:
                continue
            operation = Operation(record.operation)
            try:
                found = await self._provider.find(payment.id)
                done = await self._resolve(operation, record, payment, found)
            except ProviderError as exc:
                log.warning("provider not asked yet", extra={"payment_id": payment.id, "error": exc.message})
                continue
            if done:
                resolved += 1
                log.warning(
                    "unfinished provider call resolved",
                    extra={"key": record.key, "payment_id": payment.id, "operation": operation.value},
                )
        return resolved

    async def _resolve(
        self, operation: Operation, record: KeyRecord, payment: PaymentRow, found: ProviderRecord | None
    ) -> bool:
        key, pid, amount = record.key, payment.id, payment.amount_minor
        if operation is Operation.REFUND:
            # Our refunded total already counts this refund's amount (reserved at the claim).
            if found is not None and found.refunded_minor >= payment.refunded_minor:
                refunded = Event("refunded", record.amount_minor, "", _LOST)
                return await self._store.settle(key, pid, [refunded], if_unfinished=True)
            not_refunded = Event(
                "refund_failed", record.amount_minor, "", f"{_LOST}; the provider did not refund"
            )
            return await self._store.release_refund(
                key, pid, record.amount_minor, [not_refunded], if_unfinished=True
            )
        if operation is Operation.CAPTURE:
            if found is not None and found.capture_reference:
                captured = Event("captured", amount, found.capture_reference, _LOST)
                return await self._settle(key, pid, [captured], Status.CAPTURED)
            not_captured = Event("capture_failed", amount, "", f"{_LOST}; the provider did not capture")
            return await self._release(key, pid, [not_captured], Status.AUTHORIZED)
        if operation is Operation.VOID:
            if found is not None and found.voided:
                return await self._settle(key, pid, [Event("voided", amount, "", _LOST)], Status.VOIDED)
            not_voided = Event("void_failed", amount, "", f"{_LOST}; the provider did not void")
            return await self._release(key, pid, [not_voided], Status.AUTHORIZED)
        # A charge or an authorization: the payment is still PENDING.
        if found is None or found.voided:
            failed = Event("failed", amount, "", f"{_LOST}; the provider holds no authorization")
            return await self._release(key, pid, [failed], Status.FAILED)
        authorized = Event("authorized", amount, found.reference, _LOST)
        if found.capture_reference:
            captured = Event("captured", amount, found.capture_reference, _LOST)
            return await self._settle(key, pid, [authorized, captured], Status.CAPTURED, found)
        if operation is Operation.AUTHORIZE:
            return await self._settle(key, pid, [authorized], Status.AUTHORIZED, found)
        void = await self._provider.void(pid, found.reference)
        voided = Event("voided", amount, void.reference, "a charge that was never captured")
        return await self._release(key, pid, [authorized, voided], Status.FAILED)

    async def _settle(
        self, key: str, pid: str, events: list[Event], status: Status, found: ProviderRecord | None = None
    ) -> bool:
        return await self._store.settle(
            key,
            pid,
            events,
            status=status,
            provider_reference=found.reference if found is not None else None,
            card_last4=found.card_last4 if found is not None else None,
            if_unfinished=True,
        )

    async def _release(self, key: str, pid: str, events: list[Event], status: Status) -> bool:
        return await self._store.release(key, pid, events, status=status, if_unfinished=True)
