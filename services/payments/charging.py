"""Charge and Authorize: a new payment, authorized at the provider (and captured, for a charge)."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from .domain import Method, Operation, Status
from .flow import Flow, calling
from .providers import ProviderResult
from .store import Event, KeyRecord, NewPayment, PaymentView


@dataclass(frozen=True)
class Opening:
    """A validated Charge or Authorize request."""

    operation: Operation
    key: str
    reference: str
    user_id: int
    amount_minor: int
    currency: str
    method: Method

    def fingerprint(self) -> str:
        return "|".join(
            [
                self.operation.value,
                self.reference,
                str(self.user_id),
                str(self.amount_minor),
                self.currency,
                self.method.fingerprint(),
            ]
        )


async def open_payment(flow: Flow, opening: Opening) -> PaymentView:
    new = NewPayment(
        id=str(uuid.uuid4()),
        order_reference=opening.reference,
        user_id=opening.user_id,
        amount_minor=opening.amount_minor,
        currency=opening.currency,
        provider=flow.provider.name,
        card_last4=opening.method.last4,
    )
    fingerprint = opening.fingerprint()
    token = opening.method.token if opening.method.single_use else None
    return await flow.once(
        opening.key,
        opening.operation,
        fingerprint,
        lambda: flow.store.claim_new_payment(
            opening.key, opening.operation, fingerprint, new, token, flow.clock()
        ),
        _Charge(flow, opening, new.id).perform,
    )


class _Charge:
    """One provider round for a claimed key: authorize, then capture when charging."""

    def __init__(self, flow: Flow, opening: Opening, payment_id: str) -> None:
        self._flow = flow
        self._opening = opening
        self._id = payment_id
        self._events: list[Event] = []
        self._authorized = ""  # the provider's reference of the authorization, once there is one

    async def perform(self, record: KeyRecord) -> PaymentView:
        opening = self._opening
        auth = await calling(
            self._flow.provider.authorize(self._id, opening.amount_minor, opening.currency, opening.method),
            self._authorize_failed,
        )
        self._events.append(Event("authorized", opening.amount_minor, auth.reference, auth.message))
        capture = opening.operation is Operation.CHARGE
        if capture:
            await self._capture(auth)
        await self._flow.store.settle(
            opening.key,
            self._id,
            self._events,
            status=Status.CAPTURED if capture else Status.AUTHORIZED,
            provider_reference=auth.reference,
            card_last4=auth.card_last4,
        )
        return await self._flow.view(self._id)

    async def _authorize_failed(self, message: str, declined: bool) -> None:
        store, key, amount_minor = self._flow.store, self._opening.key, self._opening.amount_minor
        if declined:  # final: the key keeps its answer (and a single-use token stays spent)
            events = [Event("declined", amount_minor, "", message)]
            await store.settle(key, self._id, events, status=Status.DECLINED)
        else:  # the key and the token are freed for a retry
            events = [Event("failed", amount_minor, "", message)]
            await store.release(key, self._id, events, status=Status.FAILED)

    async def _capture(self, auth: ProviderResult) -> None:
        opening = self._opening
        self._authorized = auth.reference
        cap = await calling(
            self._flow.provider.capture(self._id, auth.reference, opening.amount_minor, opening.currency),
            self._capture_failed,
        )
        self._events.append(Event("captured", opening.amount_minor, cap.reference, cap.message))

    async def _capture_failed(self, message: str, declined: bool) -> None:
        # The hold is let go (best effort) before the key is freed for a retry.
        with contextlib.suppress(Exception):
            await self._flow.provider.void(self._id, self._authorized)
        self._events.append(Event("capture_failed", self._opening.amount_minor, "", message))
        await self._flow.store.release(self._opening.key, self._id, self._events, status=Status.FAILED)
