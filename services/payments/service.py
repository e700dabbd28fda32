"""The payments gRPC servicer: validates, claims the idempotency key, calls the provider once,
records the outcome, maps rows to messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from services.kit import completion, http, money, paging, principal, timestamps
from services.kit.config import SERVICE_HTTP_PORTS, ServiceSettings
from services.kit.errors import CommonError, DomainError, invalid
from services.kit.server import Registration, Runtime
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

from . import domain, metrics
from .domain import Method, Operation, PaymentsError, Status
from .providers import MAGIC_TOKENS, PaymentProvider, ProviderDeclined, ProviderError, TestProvider
from .resolver import Resolver
from .store import Event, KeyRecord, NewPayment, PaymentsStore, PaymentView
from .tokenization import create_app

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Settings(ServiceSettings):
    # A provider call whose outcome was never recorded (the process died waiting) is looked up at
    # the provider after this long: it must exceed the longest a provider call can take.
    provider_lookup_after_seconds: float = Field(default=120.0, gt=0)
    # How often the resolver looks for such calls (0: once, at start-up).
    provider_lookup_interval_seconds: float = Field(default=30.0, ge=0)
    # The card tokenization endpoint (POST /v1/tokens); 0 picks a free port.
    payments_http_port: int = Field(default=SERVICE_HTTP_PORTS["payments"], ge=0, le=65535)
    # How long a card token may be used (once).
    payment_token_ttl_seconds: float = Field(default=900.0, gt=0)
    # Browser origins allowed to call the tokenization endpoint ("*": any); comma-separated.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
        return value


# How long a replay waits for the first request with its key to finish.
SETTLE_WAIT_SECONDS = 10.0
SETTLE_POLL_SECONDS = 0.02
MAX_ATTEMPTS = 3

T = TypeVar("T")

_STATUS = {
    Status.PENDING: payments_pb2.PAYMENT_STATUS_UNSPECIFIED,
    Status.AUTHORIZED: payments_pb2.PAYMENT_STATUS_AUTHORIZED,
    Status.CAPTURING: payments_pb2.PAYMENT_STATUS_AUTHORIZED,
    Status.CAPTURED: payments_pb2.PAYMENT_STATUS_CAPTURED,
    Status.VOIDING: payments_pb2.PAYMENT_STATUS_AUTHORIZED,
    Status.VOIDED: payments_pb2.PAYMENT_STATUS_VOIDED,
    Status.PARTIALLY_REFUNDED: payments_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED,
    Status.REFUNDED: payments_pb2.PAYMENT_STATUS_REFUNDED,
    Status.DECLINED: payments_pb2.PAYMENT_STATUS_DECLINED,
    Status.FAILED: payments_pb2.PAYMENT_STATUS_FAILED,
}


def _to_proto(view: PaymentView) -> payments_pb2.Payment:
    row = view.payment
    return payments_pb2.Payment(
        id=row.id,
        order_reference=row.order_reference,
        user_id=row.user_id,
        amount=money.of(row.amount_minor, row.currency),
        refunded=money.of(row.refunded_minor, row.currency),
        status=_STATUS[Status(row.status)],
        provider=row.provider,
        card_last4=row.card_last4,
        events=[
            payments_pb2.PaymentEvent(
                type=e.type,
                amount=money.of(e.amount_minor, row.currency),
                provider_reference=e.provider_reference,
                message=e.message,
                create_time=timestamps.to_proto(e.created_at),
            )
            for e in view.events
        ],
        create_time=timestamps.to_proto(row.created_at),
    )


def _payment_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as exc:
        raise invalid("payment_id must be a payment's UUID") from exc


def _page_after(token: str) -> tuple[datetime, str] | None:
    after = paging.decode(token)
    if after is None:
        return None
    try:
        at, last_id = str(after).split("|", 1)
        when = datetime.fromisoformat(at)
        return (timestamps.to_utc(when) if when.tzinfo else when), last_id  # in range for SQL
    except ValueError as exc:
        raise DomainError(CommonError.INVALID_PAGE_TOKEN) from exc


def _declined_message(view: PaymentView) -> str:
    for event in reversed(view.events):
        if event.type == "declined" and event.message:
            return event.message
    return PaymentsError.DECLINED.message


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(
        self, store: PaymentsStore, provider: PaymentProvider, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._provider = provider
        self._clock = clock
        # Payments with a provider call running in this process (the resolver leaves them alone).
        self.in_flight: set[str] = set()

    # --- shared machinery ------------------------------------------------------------------

    async def _method(self, method: payments_pb2.PaymentMethod) -> Method:
        """The token and the card it stands for. Card data itself is refused unread: it goes to
        the tokenization endpoint, never through the shop's services."""
        which = method.WhichOneof("method")
        if which == "card":
            raise DomainError(PaymentsError.CARD_REFUSED)
        if which != "token":
            raise invalid("method is required: a payment token")
        token = domain.validate_token(method.token)
        card = MAGIC_TOKENS.get(token) or await self._store.token(token)
        if card is None:
            raise DomainError(PaymentsError.UNKNOWN_TOKEN)
        return Method(token=token, card=card)

    async def _view(self, payment_id: str) -> PaymentView:
        view = await self._store.get(payment_id)
        if view is None:
            raise DomainError(PaymentsError.PAYMENT_NOT_FOUND, f"payment {payment_id} not found")
        return view

    async def _settled(self, key: str) -> KeyRecord | None:
        """Waits for the request holding `key` to finish; None if it failed and let the key go."""
        give_up = time.monotonic() + SETTLE_WAIT_SECONDS
        while True:
            record = await self._store.key(key)
            if record is None or record.completed:
                return record
            if time.monotonic() > give_up:
                raise DomainError(PaymentsError.IN_PROGRESS)
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    async def _idempotent(
        self,
        key: str,
        operation: Operation,
        fingerprint: str,
        claim: Callable[[], Awaitable[tuple[KeyRecord, bool]]],
        perform: Callable[[KeyRecord], Coroutine[Any, Any, PaymentView]],
    ) -> PaymentView:
        """Performs the request once per key; later requests with the key get the same answer."""
        for _ in range(MAX_ATTEMPTS):
            record, owned = await claim()
            if owned:
                # The provider's answer is recorded even if this RPC is cancelled meanwhile.
                return await completion.to_completion(self._tracked(record, perform))
            if record.operation != operation.value or record.fingerprint != fingerprint:
                raise DomainError(PaymentsError.KEY_REUSED)
            settled = await self._settled(key)
            if settled is None:
                continue  # the first request failed and freed the key: this one may try
            view = await self._view(settled.payment_id)
            if view.payment.status == Status.DECLINED:
                raise DomainError(PaymentsError.DECLINED, _declined_message(view))
            return view
        raise DomainError(PaymentsError.IN_PROGRESS)

    async def _tracked(
        self, record: KeyRecord, perform: Callable[[KeyRecord], Coroutine[Any, Any, PaymentView]]
    ) -> PaymentView:
        self.in_flight.add(record.payment_id)
        try:
            with metrics.operation(record.operation):
                return await perform(record)
        finally:
            self.in_flight.discard(record.payment_id)

    @staticmethod
    def _provider_error(exc: ProviderError) -> DomainError:
        if isinstance(exc, ProviderDeclined):
            return DomainError(PaymentsError.DECLINED, exc.message)
        return DomainError(PaymentsError.PROVIDER_UNAVAILABLE, exc.message)

    # --- charging --------------------------------------------------------------------------

    async def _open(
        self,
        operation: Operation,
        idempotency_key: str,
        order_reference: str,
        user_id: int,
        amount: Any,
        has_amount: bool,
        method_message: payments_pb2.PaymentMethod,
    ) -> PaymentView:
        principal.require_service()
        key = domain.idempotency_key(idempotency_key)
        if not has_amount:
            raise invalid("amount is required")
        price = money.validated(amount, "amount", allow_zero=False)
        reference = order_reference.strip()
        if not reference or len(reference) > domain.MAX_REFERENCE:
            raise invalid(f"order_reference is required (at most {domain.MAX_REFERENCE} characters)")
        if user_id <= 0:
            raise invalid("user_id is required")
        method = await self._method(method_message)
        fingerprint = "|".join(
            [
                operation.value,
                reference,
                str(user_id),
                str(price.amount_minor),
                price.currency,
                method.fingerprint(),
            ]
        )
        new = NewPayment(
            id=str(uuid.uuid4()),
            order_reference=reference,
            user_id=user_id,
            amount_minor=price.amount_minor,
            currency=price.currency,
            provider=self._provider.name,
            card_last4=method.last4,
        )
        capture = operation is Operation.CHARGE

        async def perform(record: KeyRecord) -> PaymentView:
            pid, amount_minor, currency = new.id, new.amount_minor, new.currency
            try:
                auth = await self._provider.authorize(pid, amount_minor, currency, method)
            except ProviderDeclined as exc:
                await self._store.settle(
                    key, pid, [Event("declined", amount_minor, "", exc.message)], status=Status.DECLINED
                )
                raise self._provider_error(exc) from exc
            except Exception as exc:
                message = exc.message if isinstance(exc, ProviderError) else "internal error"
                await self._store.release(
                    key, pid, [Event("failed", amount_minor, "", message)], status=Status.FAILED
                )
                if isinstance(exc, ProviderError):
                    raise self._provider_error(exc) from exc
                raise
            events = [Event("authorized", amount_minor, auth.reference, auth.message)]
            if capture:
                try:
                    cap = await self._provider.capture(pid, auth.reference, amount_minor, currency)
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        await self._provider.void(pid, auth.reference)
                    message = exc.message if isinstance(exc, ProviderError) else "internal error"
                    events.append(Event("capture_failed", amount_minor, "", message))
                    await self._store.release(key, pid, events, status=Status.FAILED)
                    if isinstance(exc, ProviderError):
                        raise self._provider_error(exc) from exc
                    raise
                events.append(Event("captured", amount_minor, cap.reference, cap.message))
            await self._store.settle(
                key,
                pid,
                events,
                status=Status.CAPTURED if capture else Status.AUTHORIZED,
                provider_reference=auth.reference,
                card_last4=auth.card_last4,
            )
            return await self._view(pid)

        return await self._idempotent(
            key,
            operation,
            fingerprint,
            lambda: self._store.claim_new_payment(
                key, operation, fingerprint, new, method.token if method.single_use else None, self._clock()
            ),
            perform,
        )

    async def Charge(
        self, request: payments_pb2.ChargeRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.ChargeResponse:
        view = await self._open(
            Operation.CHARGE,
            request.idempotency_key,
            request.order_reference,
            request.user_id,
            request.amount,
            request.HasField("amount"),
            request.method,
        )
        return payments_pb2.ChargeResponse(payment=_to_proto(view))

    async def Authorize(
        self, request: payments_pb2.AuthorizeRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.AuthorizeResponse:
        view = await self._open(
            Operation.AUTHORIZE,
            request.idempotency_key,
            request.order_reference,
            request.user_id,
            request.amount,
            request.HasField("amount"),
            request.method,
        )
        return payments_pb2.AuthorizeResponse(payment=_to_proto(view))

    # --- capture and void --------------------------------------------------------------------

    async def _transition(
        self, operation: Operation, payment_id_value: str, idempotency_key: str
    ) -> PaymentView:
        principal.require_service()
        key = domain.idempotency_key(idempotency_key)
        payment_id = _payment_id(payment_id_value)
        fingerprint = f"{operation.value}|{payment_id}"
        capture = operation is Operation.CAPTURE
        via, done = (Status.CAPTURING, Status.CAPTURED) if capture else (Status.VOIDING, Status.VOIDED)

        async def perform(record: KeyRecord) -> PaymentView:
            row = (await self._view(payment_id)).payment
            try:
                if capture:
                    result = await self._provider.capture(
                        payment_id, row.provider_reference, row.amount_minor, row.currency
                    )
                else:
                    result = await self._provider.void(payment_id, row.provider_reference)
            except Exception as exc:
                message = exc.message if isinstance(exc, ProviderError) else "internal error"
                await self._store.release(
                    key,
                    payment_id,
                    [Event(f"{operation.value}_failed", row.amount_minor, "", message)],
                    status=Status.AUTHORIZED,
                )
                if isinstance(exc, ProviderError):
                    raise self._provider_error(exc) from exc
                raise
            event = Event(
                "captured" if capture else "voided", row.amount_minor, result.reference, result.message
            )
            await self._store.settle(key, payment_id, [event], status=done)
            return await self._view(payment_id)

        return await self._idempotent(
            key,
            operation,
            fingerprint,
            lambda: self._store.claim_transition(
                key,
                operation,
                fingerprint,
                payment_id,
                Status.AUTHORIZED,
                via,
                "captured" if capture else "voided",
            ),
            perform,
        )

    async def Capture(
        self, request: payments_pb2.CaptureRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.CaptureResponse:
        view = await self._transition(Operation.CAPTURE, request.payment_id, request.idempotency_key)
        return payments_pb2.CaptureResponse(payment=_to_proto(view))

    async def Void(
        self, request: payments_pb2.VoidRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.VoidResponse:
        view = await self._transition(Operation.VOID, request.payment_id, request.idempotency_key)
        return payments_pb2.VoidResponse(payment=_to_proto(view))

    # --- refunds -----------------------------------------------------------------------------

    async def Refund(
        self, request: payments_pb2.RefundRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.RefundResponse:
        principal.require_service()
        key = domain.idempotency_key(request.idempotency_key)
        payment_id = _payment_id(request.payment_id)
        requested: int | None = None
        currency: str | None = None
        if request.HasField("amount"):
            amount = money.validated(request.amount, "amount", allow_zero=False)
            requested, currency = amount.amount_minor, amount.currency
        reason = request.reason.strip()
        if len(reason) > domain.MAX_REASON:
            raise invalid(f"reason must be at most {domain.MAX_REASON} characters")
        fingerprint = f"refund|{payment_id}|{'full' if requested is None else requested}|{currency or ''}"

        async def perform(record: KeyRecord) -> PaymentView:
            row = (await self._view(payment_id)).payment
            try:
                result = await self._provider.refund(
                    payment_id, row.provider_reference, record.amount_minor, row.currency
                )
            except Exception as exc:
                message = exc.message if isinstance(exc, ProviderError) else "internal error"
                await self._store.release_refund(
                    key,
                    payment_id,
                    record.amount_minor,
                    [Event("refund_failed", record.amount_minor, "", message)],
                )
                if isinstance(exc, ProviderError):
                    raise self._provider_error(exc) from exc
                raise
            event = Event("refunded", record.amount_minor, result.reference, reason or result.message)
            await self._store.settle(key, payment_id, [event])
            metrics.refunded(record.amount_minor, row.currency)
            return await self._view(payment_id)

        view = await self._idempotent(
            key,
            Operation.REFUND,
            fingerprint,
            lambda: self._store.claim_refund(key, fingerprint, payment_id, requested, currency),
            perform,
        )
        return payments_pb2.RefundResponse(payment=_to_proto(view))

    # --- reading -----------------------------------------------------------------------------

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.GetPaymentResponse:
        caller = principal.require_authenticated()
        payment_id = _payment_id(request.id)
        view = await self._store.get(payment_id)
        # Someone else's payment looks exactly like a missing one.
        if view is None or not (
            caller.is_service or caller.is_admin or view.payment.user_id == caller.user_id
        ):
            raise DomainError(PaymentsError.PAYMENT_NOT_FOUND, f"payment {payment_id} not found")
        return payments_pb2.GetPaymentResponse(payment=_to_proto(view))

    async def ListPayments(
        self, request: payments_pb2.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.ListPaymentsResponse:
        principal.require_admin_or_service()
        size = paging.page_size(request.page_size)
        views = await self._store.list(
            request.order_reference.strip(), size + 1, _page_after(request.page_token)
        )
        views, token = paging.split(
            views, size, lambda v: paging.encode(f"{v.payment.created_at.isoformat()}|{v.payment.id}")
        )
        return payments_pb2.ListPaymentsResponse(
            payments=[_to_proto(v) for v in views], next_page_token=token
        )

    async def AnonymizeUserPayments(
        self, request: payments_pb2.AnonymizeUserPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.AnonymizeUserPaymentsResponse:
        principal.require_service_for(request.user_id)
        return payments_pb2.AnonymizeUserPaymentsResponse(
            payments_updated=await self._store.anonymize_user(request.user_id)
        )


async def build(runtime: Runtime) -> Sequence[Registration]:
    return await build_with(runtime, TestProvider())


async def build_with(
    runtime: Runtime, provider: PaymentProvider, clock: Callable[[], datetime] = timestamps.now
) -> Sequence[Registration]:
    """The service with this provider, reading the time (token expiry) from `clock`."""
    settings = runtime.settings_as(Settings)
    store = PaymentsStore(await runtime.database(MIGRATIONS))
    servicer = PaymentsServicer(store, provider, clock)
    tokens = create_app(
        store, clock, timedelta(seconds=settings.payment_token_ttl_seconds), settings.cors_origins
    )
    await http.serve(runtime, "tokens", tokens, settings.payments_http_port)
    resolver = Resolver(
        store, provider, servicer.in_flight, timedelta(seconds=settings.provider_lookup_after_seconds)
    )
    runtime.background(
        resolver.run(settings.provider_lookup_interval_seconds, runtime.lease("resolver")),
        "payments-resolver",
    )
    return [
        Registration(
            servicer,
            payments_pb2_grpc.add_PaymentsServiceServicer_to_server,
            payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"].full_name,
        )
    ]
