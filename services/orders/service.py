"""The orders gRPC servicer: who may do what, then checkout, cancellation or the store."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic import Field

from services.kit import money, paging, principal, telemetry, text, timestamps
from services.kit.config import ServiceSettings
from services.kit.errors import DomainError, invalid
from services.kit.lease import exclusive
from services.kit.principal import Principal
from services.kit.server import Registration, Runtime
from shop.cart.v1 import cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2_grpc
from shop.profile.v1 import profile_pb2_grpc
from shop.shipping.v1 import shipping_pb2_grpc

from . import domain, metrics
from .backoffice import BackOffice
from .cancellation import Cancellation
from .checkout import Checkout, Holds, actor_of, address_of
from .domain import OrderError, Status
from .downstream import FLOW_BUDGET_SECONDS, Downstream
from .recovery import Recovery
from .store import OrdersStore, OrderView

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger(__name__)


class Settings(ServiceSettings):
    # How long inventory holds an order's stock while its checkout runs, and from the charge on
    # (the charge follows the reservation at once: the hold is taken for the longer of the two).
    checkout_hold_seconds: int = Field(default=300, gt=0, le=7 * 24 * 3600)
    payment_hold_seconds: int = Field(default=900, gt=0, le=7 * 24 * 3600)
    # A PENDING order older than this is a checkout that stopped half-way; the recovery pass
    # finishes or rolls it back. Keep it well above a checkout's own time budget.
    recovery_after_seconds: float = Field(default=120.0, ge=0)
    # How often the recovery pass runs after the one at start-up; 0 runs only that one.
    recovery_interval_seconds: float = Field(default=60.0, ge=0)


def _status_to_proto(status: str | None) -> orders_pb2.OrderStatus.ValueType:
    if status is None:
        return orders_pb2.ORDER_STATUS_UNSPECIFIED
    return orders_pb2.OrderStatus.Value(f"ORDER_STATUS_{status.upper()}")


def _status_from_proto(value: int) -> Status | None:
    if value == orders_pb2.ORDER_STATUS_UNSPECIFIED:
        return None
    try:
        name = orders_pb2.OrderStatus.Name(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise invalid(f"unknown order status {value}") from exc
    return Status(name.removeprefix("ORDER_STATUS_").lower())


def _to_proto(view: OrderView) -> orders_pb2.Order:
    order = view.order
    return orders_pb2.Order(
        id=order.id,
        user_id=order.user_id,
        status=_status_to_proto(order.status),
        lines=[
            orders_pb2.OrderLine(
                product_id=line.product_id,
                product_name=line.product_name,
                quantity=line.quantity,
                unit_price=money.of(line.unit_price_minor, order.currency),
                line_total=money.of(line.unit_price_minor * line.quantity, order.currency),
            )
            for line in view.lines
        ],
        subtotal=money.of(order.subtotal_minor, order.currency),
        shipping=money.of(order.shipping_minor, order.currency),
        total=money.of(order.total_minor, order.currency),
        payment_id=order.payment_id,
        shipping_address=address_of(order),
        shipping_method=order.shipping_method,
        shipment_id=order.shipment_id,
        events=[
            orders_pb2.OrderEvent(
                from_status=_status_to_proto(e.from_status),
                to_status=_status_to_proto(e.to_status),
                note=e.note,
                actor=e.actor,
                create_time=timestamps.to_proto(e.created_at),
            )
            for e in view.events
        ],
        create_time=timestamps.to_proto(order.created_at),
        update_time=timestamps.to_proto(order.updated_at),
    )


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(
        self, store: OrdersStore, checkout: Checkout, cancellation: Cancellation, back_office: BackOffice
    ) -> None:
        self._store = store
        self._checkout = checkout
        self._cancellation = cancellation
        self._back_office = back_office

    async def _visible(self, caller: Principal, order_id: int) -> OrderView:
        """The order if the caller may see it; someone else's order is indistinguishable from none."""
        view = await self._store.get(order_id) if order_id > 0 else None
        if view is None or not caller.may_see(view.order.user_id):
            raise DomainError(OrderError.ORDER_NOT_FOUND, f"order {order_id} not found")
        return view

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CreateOrderResponse:
        caller = principal.require_user()
        view = await self._checkout.create(caller, request)
        return orders_pb2.CreateOrderResponse(order=_to_proto(view))

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        caller = principal.require_authenticated()
        return orders_pb2.GetOrderResponse(order=_to_proto(await self._visible(caller, request.id)))

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        caller = principal.require_authenticated()
        if request.user_id < 0:
            raise invalid("user_id must not be negative")
        # Customers always get their own orders; admins and services everyone's, or one user's.
        user_id: int | None = caller.user_id
        if caller.is_admin or caller.is_service:
            user_id = request.user_id or None
        size = paging.page_size(request.page_size)
        views = await self._store.page(
            user_id, _status_from_proto(request.status), size + 1, paging.decode_int(request.page_token)
        )
        views, token = paging.split(views, size, lambda v: paging.encode(v.order.id))
        return orders_pb2.ListOrdersResponse(orders=[_to_proto(v) for v in views], next_page_token=token)

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CancelOrderResponse:
        caller = principal.require_authenticated()
        reason = text.bounded(request.reason, "reason", domain.MAX_NOTE)
        await self._visible(caller, request.id)
        view = await self._cancellation.cancel(request.id, actor_of(caller), reason)
        return orders_pb2.CancelOrderResponse(order=_to_proto(view))

    async def UpdateOrderStatus(
        self, request: orders_pb2.UpdateOrderStatusRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.UpdateOrderStatusResponse:
        caller = principal.require_admin_or_service()
        target = _status_from_proto(request.status)
        if target is None:
            raise invalid("status is required")
        note = text.bounded(request.note, "note", domain.MAX_NOTE)
        actor = actor_of(caller)
        view = await self._visible(caller, request.id)
        if target in domain.CHECKOUT_OWNED:
            raise DomainError(OrderError.CHECKOUT_OWNED, f"status {target} is set by checkout only")
        domain.check_transition(view.status, target)
        if target is Status.CANCELLED:
            view = await self._cancellation.cancel(request.id, actor, note)
        elif target is Status.REFUNDED:
            view = await self._cancellation.refund(request.id, actor, note)
        else:
            if (
                await self._store.transition(request.id, [view.status], target, note or str(target), actor)
                is None
            ):
                raise DomainError(OrderError.CONCURRENT_CHANGE)
            view = await self._visible(caller, request.id)
        return orders_pb2.UpdateOrderStatusResponse(order=_to_proto(view))

    async def RefundOrder(
        self, request: orders_pb2.RefundOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.RefundOrderResponse:
        caller = principal.require_admin()
        key = text.bounded(request.idempotency_key, "idempotency_key", domain.MAX_KEY)
        reason = text.bounded(request.reason, "reason", domain.MAX_NOTE)
        view = await self._visible(caller, request.id)
        amount_minor: int | None = None
        if request.HasField("amount"):
            amount = money.validated(request.amount, "amount", allow_zero=False)
            if amount.currency != view.order.currency:
                raise invalid(f"amount must be in the order's currency, {view.order.currency}")
            amount_minor = amount.amount_minor
        view, refunded = await self._back_office.refund(
            request.id, key, amount_minor, reason, actor_of(caller)
        )
        return orders_pb2.RefundOrderResponse(
            order=_to_proto(view), refunded=money.of(refunded, view.order.currency)
        )

    async def FulfilOrder(
        self, request: orders_pb2.FulfilOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.FulfilOrderResponse:
        caller = principal.require_admin()
        target = _status_from_proto(request.status)
        if target is None or target not in domain.FULFILMENT_REACHED:
            raise invalid("status must be ORDER_STATUS_FULFILLED or ORDER_STATUS_SHIPPED")
        note = text.bounded(request.note, "note", domain.MAX_NOTE)
        await self._visible(caller, request.id)
        view = await self._back_office.fulfil(request.id, target, note, actor_of(caller))
        return orders_pb2.FulfilOrderResponse(order=_to_proto(view))

    async def AnonymizeUserOrders(
        self, request: orders_pb2.AnonymizeUserOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.AnonymizeUserOrdersResponse:
        principal.require_service_for(request.user_id)
        return orders_pb2.AnonymizeUserOrdersResponse(
            orders_updated=await self._store.anonymize_user(request.user_id)
        )

    async def CheckPurchase(
        self, request: orders_pb2.CheckPurchaseRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CheckPurchaseResponse:
        principal.require_service_for(request.user_id)
        if request.product_id <= 0:
            raise invalid("product_id is required")
        # Paid and not undone: a cancelled, refunded, failed or still pending order does not count.
        purchased = (Status.PAID, Status.FULFILLED, Status.SHIPPED, Status.DELIVERED)
        return orders_pb2.CheckPurchaseResponse(
            purchased=await self._store.has_purchased(request.user_id, request.product_id, purchased)
        )


def _start_recovery(runtime: Runtime, recovery: Recovery, settings: Settings) -> None:
    """One pass at start-up (in the background: the services it calls may still be starting),
    then one every interval; stopped with the service."""

    lease = runtime.lease("recovery")

    async def loop() -> None:
        if settings.recovery_interval_seconds > 0:
            await recovery.run(settings.recovery_interval_seconds, lease)
        else:
            with contextlib.suppress(Exception):
                await exclusive(lease, recovery.run_once)

    runtime.background(loop(), "orders-recovery")


async def build(runtime: Runtime) -> Sequence[Registration]:
    return await build_with(runtime, Downstream)


async def build_with(runtime: Runtime, downstream_type: type[Downstream]) -> Sequence[Registration]:
    """The service calling the others through `downstream_type` (a test's Downstream whose calls
    fail at a chosen point stands for a process killed there)."""
    settings = runtime.settings_as(Settings)
    if settings.recovery_after_seconds < FLOW_BUDGET_SECONDS:
        log.warning(
            "recovery_after_seconds is below a checkout's time budget: a slow checkout may be rolled back",
            extra={"recovery_after_seconds": settings.recovery_after_seconds},
        )
    db = await runtime.database(MIGRATIONS)
    runtime.background(telemetry.refreshing(metrics.refresher(db)), "orders-metrics")
    store = OrdersStore(db)
    channels = runtime.channels
    downstream = downstream_type(
        cart=channels.stub(cart_pb2_grpc.CartServiceStub, "cart"),
        catalog=channels.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
        inventory=channels.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory"),
        payments=channels.stub(payments_pb2_grpc.PaymentsServiceStub, "payments"),
        token=runtime.service_token(),
        shipping=channels.stub(shipping_pb2_grpc.ShippingServiceStub, "shipping"),
        profile=channels.stub(profile_pb2_grpc.ProfileServiceStub, "profile"),
    )
    checkout = Checkout(
        store, downstream, Holds(settings.checkout_hold_seconds, settings.payment_hold_seconds)
    )
    cancellation = Cancellation(store, downstream)
    _start_recovery(runtime, Recovery(store, downstream, checkout, settings.recovery_after_seconds), settings)
    return [
        Registration(
            OrdersServicer(
                store, checkout, cancellation, BackOffice(store, downstream, checkout, cancellation)
            ),
            orders_pb2_grpc.add_OrdersServiceServicer_to_server,
            orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name,
        )
    ]
