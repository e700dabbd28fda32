"""Refund: all or part of a captured payment goes back at the provider."""

from __future__ import annotations

from dataclasses import dataclass

from . import metrics
from .domain import Operation
from .flow import Flow, calling
from .store import Event, KeyRecord, PaymentView


@dataclass(frozen=True)
class RefundRequest:
    """A validated Refund request; no amount (None) refunds all that is left."""

    key: str
    payment_id: str
    amount_minor: int | None
    currency: str | None
    reason: str

    def fingerprint(self) -> str:
        amount = "full" if self.amount_minor is None else self.amount_minor
        return f"refund|{self.payment_id}|{amount}|{self.currency or ''}"


async def refund(flow: Flow, request: RefundRequest) -> PaymentView:
    fingerprint = request.fingerprint()
    return await flow.once(
        request.key,
        Operation.REFUND,
        fingerprint,
        lambda: flow.store.claim_refund(
            request.key, fingerprint, request.payment_id, request.amount_minor, request.currency
        ),
        _Refund(flow, request).perform,
    )


class _Refund:
    def __init__(self, flow: Flow, request: RefundRequest) -> None:
        self._flow = flow
        self._request = request
        self._amount_minor = 0  # what the claim reserved

    async def perform(self, record: KeyRecord) -> PaymentView:
        request, payment_id = self._request, self._request.payment_id
        row = (await self._flow.view(payment_id)).payment
        self._amount_minor = record.amount_minor
        result = await calling(
            self._flow.provider.refund(payment_id, row.provider_reference, record.amount_minor, row.currency),
            self._failed,
        )
        event = Event("refunded", record.amount_minor, result.reference, request.reason or result.message)
        await self._flow.store.settle(request.key, payment_id, [event])
        metrics.refunded(record.amount_minor, row.currency)
        return await self._flow.view(payment_id)

    async def _failed(self, message: str, declined: bool) -> None:
        await self._flow.store.release_refund(
            self._request.key,
            self._request.payment_id,
            self._amount_minor,
            [Event("refund_failed", self._amount_minor, "", message)],
        )
