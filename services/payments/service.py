"""The payments gRPC servicer: validates requests and maps rows to messages; each operation's
provider flow is its own module (charging, transitions, refunds) on the shared `flow.Flow`."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import grpc
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from services.kit import http, money, paging, principal, text, timestamps
from services.kit.config import SERVICE_HTTP_PORTS, ServiceSettings
from services.kit.errors import DomainError, invalid
from services.kit.server import Registration, Runtime
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

from . import charging, domain, refunds, transitions
from .charging import Opening
from .domain import Method, Operation, PaymentsError, Status
from .flow import Flow
from .providers import MAGIC_TOKENS, PaymentProvider, TestProvider
from .resolver import Resolver
from .store import PaymentsStore, PaymentView
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
            raw = value.strip()
            if raw.startswith("["):
                return json.loads(raw)
            return [part.strip().rstrip("/") for part in raw.split(",") if part.strip()]
        return value


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


async def _opening(
    operation: Operation,
    request: payments_pb2.ChargeRequest | payments_pb2.AuthorizeRequest,
    method: Callable[[], Awaitable[Method]],
) -> Opening:
    """A Charge or Authorize request, validated; the method is looked up last."""
    key = domain.idempotency_key(request.idempotency_key)
    if not request.HasField("amount"):
        raise invalid("amount is required")
    price = money.validated(request.amount, "amount", allow_zero=False)
    reference = domain.order_reference(request.order_reference)
    if request.user_id <= 0:
        raise invalid("user_id is required")
    return Opening(
        operation, key, reference, request.user_id, price.amount_minor, price.currency, await method()
    )


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(
        self, store: PaymentsStore, provider: PaymentProvider, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._flow = Flow(store, provider, clock)
        # Payments with a provider call running in this process (the resolver leaves them alone).
        self.in_flight = self._flow.in_flight

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

    async def _open(
        self,
        operation: Operation,
        request: payments_pb2.ChargeRequest | payments_pb2.AuthorizeRequest,
    ) -> payments_pb2.Payment:
        principal.require_service()
        opening = await _opening(operation, request, lambda: self._method(request.method))
        return _to_proto(await charging.open_payment(self._flow, opening))

    async def Charge(
        self, request: payments_pb2.ChargeRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.ChargeResponse:
        return payments_pb2.ChargeResponse(payment=await self._open(Operation.CHARGE, request))

    async def Authorize(
        self, request: payments_pb2.AuthorizeRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.AuthorizeResponse:
        return payments_pb2.AuthorizeResponse(payment=await self._open(Operation.AUTHORIZE, request))

    async def _transition(
        self, operation: Operation, request: payments_pb2.CaptureRequest | payments_pb2.VoidRequest
    ) -> payments_pb2.Payment:
        principal.require_service()
        key = domain.idempotency_key(request.idempotency_key)
        payment_id = _payment_id(request.payment_id)
        return _to_proto(await transitions.transition(self._flow, operation, payment_id, key))

    async def Capture(
        self, request: payments_pb2.CaptureRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.CaptureResponse:
        return payments_pb2.CaptureResponse(payment=await self._transition(Operation.CAPTURE, request))

    async def Void(
        self, request: payments_pb2.VoidRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.VoidResponse:
        return payments_pb2.VoidResponse(payment=await self._transition(Operation.VOID, request))

    async def Refund(
        self, request: payments_pb2.RefundRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.RefundResponse:
        principal.require_service()
        key = domain.idempotency_key(request.idempotency_key)
        payment_id = _payment_id(request.payment_id)
        amount = (
            money.validated(request.amount, "amount", allow_zero=False)
            if request.HasField("amount")
            else None
        )
        checked = refunds.RefundRequest(
            key,
            payment_id,
            amount.amount_minor if amount else None,
            amount.currency if amount else None,
            text.bounded(request.reason, "reason", domain.MAX_REASON),
        )
        return payments_pb2.RefundResponse(payment=_to_proto(await refunds.refund(self._flow, checked)))

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.GetPaymentResponse:
        caller = principal.require_authenticated()
        payment_id = _payment_id(request.id)
        view = await self._store.get(payment_id)
        # Someone else's payment looks exactly like a missing one.
        if view is None or not caller.may_see(view.payment.user_id):
            raise DomainError(PaymentsError.PAYMENT_NOT_FOUND, f"payment {payment_id} not found")
        return payments_pb2.GetPaymentResponse(payment=_to_proto(view))

    async def ListPayments(
        self, request: payments_pb2.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.ListPaymentsResponse:
        principal.require_admin_or_service()
        size = paging.page_size(request.page_size)
        views = await self._store.list(
            request.order_reference.strip(), size + 1, paging.decode_time_key(request.page_token)
        )
        views, token = paging.split(
            views, size, lambda v: paging.encode_time_key(v.payment.created_at, v.payment.id)
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
