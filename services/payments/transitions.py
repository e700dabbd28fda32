"""Capture and Void: an authorized payment moves on at the provider."""

from __future__ import annotations

from .domain import Operation, Status
from .flow import Flow, calling
from .providers import ProviderResult
from .store import Event, KeyRecord, PaymentView

# Per operation: the status held while the provider is called, the one after, the event recorded.
_STEPS = {
    Operation.CAPTURE: (Status.CAPTURING, Status.CAPTURED, "captured"),
    Operation.VOID: (Status.VOIDING, Status.VOIDED, "voided"),
}


async def transition(flow: Flow, operation: Operation, payment_id: str, key: str) -> PaymentView:
    via, _, event = _STEPS[operation]
    fingerprint = f"{operation.value}|{payment_id}"
    return await flow.once(
        key,
        operation,
        fingerprint,
        lambda: flow.store.claim_transition(
            key, operation, fingerprint, payment_id, Status.AUTHORIZED, via, event
        ),
        _Transition(flow, operation, payment_id, key).perform,
    )


class _Transition:
    def __init__(self, flow: Flow, operation: Operation, payment_id: str, key: str) -> None:
        self._flow = flow
        self._operation = operation
        self._id = payment_id
        self._key = key
        self._amount_minor = 0

    async def perform(self, record: KeyRecord) -> PaymentView:
        row = (await self._flow.view(self._id)).payment
        self._amount_minor = row.amount_minor
        provider = self._flow.provider
        call = (
            provider.capture(self._id, row.provider_reference, row.amount_minor, row.currency)
            if self._operation is Operation.CAPTURE
            else provider.void(self._id, row.provider_reference)
        )
        result: ProviderResult = await calling(call, self._failed)
        _, done, name = _STEPS[self._operation]
        event = Event(name, row.amount_minor, result.reference, result.message)
        await self._flow.store.settle(self._key, self._id, [event], status=done)
        return await self._flow.view(self._id)

    async def _failed(self, message: str, declined: bool) -> None:
        event = Event(f"{self._operation.value}_failed", self._amount_minor, "", message)
        await self._flow.store.release(self._key, self._id, [event], status=Status.AUTHORIZED)
