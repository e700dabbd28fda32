"""The services orders calls. Calls that need the service role (stock, payments) carry this
service's own token; calls that are idempotent per reference or key (reservations, AdjustStock,
Charge, Refund, CreateShipment) are asked once more when their outcome is unknown. What
*answered* and *unknown* mean is the kit's (services/kit/clients.py).
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from services.kit import completion, deadlines
from services.kit.clients import Metadata, ServiceToken, absent, answered, once_more_if_unknown
from services.kit.errors import DomainError
from shop.cart.v1 import cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from shop.profile.v1 import profile_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc

from .domain import OrderError

T = TypeVar("T")

# Time given to finish a flow once it has started changing other services (taking stock,
# charging, compensating), independent of the caller's remaining deadline.
FLOW_BUDGET_SECONDS = 30.0


async def to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a flow to its end even if the RPC that started it is cancelled or runs out of time:
    a half-done checkout or cancel (stock taken, nobody charged) is worse than a late answer.
    The flow gets a fresh deadline of its own for the calls it makes."""

    async def run() -> T:
        deadlines.set_deadline(time.monotonic() + FLOW_BUDGET_SECONDS)
        return await coro

    return await completion.to_completion(run())


@dataclass
class Downstream:
    cart: cart_pb2_grpc.CartServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    payments: payments_pb2_grpc.PaymentsServiceStub
    token: ServiceToken
    shipping: shipping_pb2_grpc.ShippingServiceStub | None = None
    profile: profile_pb2_grpc.ProfileServiceStub | None = None

    async def service_metadata(self) -> Metadata:
        try:
            return await self.token.metadata()
        except grpc.aio.AioRpcError as exc:
            raise DomainError(OrderError.DEPENDENCY_UNAVAILABLE, "auth service unavailable") from exc

    async def adjust_stock(self, lines: Sequence[tuple[int, int]], reference: str, reason: str) -> None:
        """Adds (positive) or takes (negative) stock for all lines or none; idempotent per reference."""
        request = inventory_pb2.AdjustStockRequest(
            lines=[inventory_pb2.StockLine(product_id=p, quantity=q) for p, q in lines],
            reference=reference,
            reason=reason,
        )

        async def call() -> None:
            await self.inventory.AdjustStock(request, metadata=await self.service_metadata())

        await once_more_if_unknown(call)

    # --- reservations (idempotent per order reference / reservation id) ---

    async def reserve(
        self, reference: str, lines: Sequence[tuple[int, int]], ttl_seconds: int
    ) -> inventory_pb2.Reservation:
        """Holds every line or none; asking again for the same reference returns the first hold."""
        request = inventory_pb2.ReserveRequest(
            order_reference=reference,
            lines=[inventory_pb2.StockLine(product_id=p, quantity=q) for p, q in lines],
            ttl_seconds=ttl_seconds,
        )

        async def call() -> inventory_pb2.Reservation:
            reply: inventory_pb2.ReserveResponse = await self.inventory.Reserve(
                request, metadata=await self.service_metadata()
            )
            return reply.reservation

        return await once_more_if_unknown(call)

    async def extend(self, reservation_id: str, ttl_seconds: int) -> inventory_pb2.Reservation:
        request = inventory_pb2.ExtendReservationRequest(
            reservation_id=reservation_id, ttl_seconds=ttl_seconds
        )

        async def call() -> inventory_pb2.Reservation:
            reply: inventory_pb2.ExtendReservationResponse = await self.inventory.ExtendReservation(
                request, metadata=await self.service_metadata()
            )
            return reply.reservation

        return await once_more_if_unknown(call)

    async def commit(self, reservation_id: str) -> inventory_pb2.Reservation:
        request = inventory_pb2.CommitReservationRequest(reservation_id=reservation_id)

        async def call() -> inventory_pb2.Reservation:
            reply: inventory_pb2.CommitReservationResponse = await self.inventory.CommitReservation(
                request, metadata=await self.service_metadata()
            )
            return reply.reservation

        return await once_more_if_unknown(call)

    async def release(self, reservation_id: str, reason: str) -> inventory_pb2.Reservation:
        request = inventory_pb2.ReleaseReservationRequest(reservation_id=reservation_id, reason=reason)

        async def call() -> inventory_pb2.Reservation:
            reply: inventory_pb2.ReleaseReservationResponse = await self.inventory.ReleaseReservation(
                request, metadata=await self.service_metadata()
            )
            return reply.reservation

        return await once_more_if_unknown(call)

    # --- payments ---

    async def payments_of(self, reference: str) -> list[payments_pb2.Payment]:
        """Every payment recorded under an order reference (reconciliation)."""
        found: list[payments_pb2.Payment] = []
        token = ""
        for _ in range(100):
            reply: payments_pb2.ListPaymentsResponse = await self.payments.ListPayments(
                payments_pb2.ListPaymentsRequest(order_reference=reference, page_size=100, page_token=token),
                metadata=await self.service_metadata(),
            )
            found.extend(reply.payments)
            token = reply.next_page_token
            if not token:
                break
        return found

    async def payment(self, payment_id: str) -> payments_pb2.Payment:
        async def call() -> payments_pb2.Payment:
            reply: payments_pb2.GetPaymentResponse = await self.payments.GetPayment(
                payments_pb2.GetPaymentRequest(id=payment_id), metadata=await self.service_metadata()
            )
            return reply.payment

        return await once_more_if_unknown(call)

    # --- shipping ---

    async def mark_in_transit(self, shipment_id: str, message: str) -> None:
        """Puts "in transit" on a shipment's timeline (shipping then tells orders it shipped)."""
        if self.shipping is None:
            raise DomainError(OrderError.SHIPPING_UNAVAILABLE)
        shipping = self.shipping
        request = shipping_pb2.AddTrackingEventRequest(
            shipment_id=shipment_id,
            event=shipping_pb2.TrackingEvent(status=shipping_pb2.SHIPMENT_STATUS_IN_TRANSIT, message=message),
        )
        try:
            await shipping.AddTrackingEvent(request, metadata=await self.service_metadata())
        except grpc.aio.AioRpcError as exc:
            if absent(exc):
                raise DomainError(OrderError.SHIPPING_UNAVAILABLE) from exc
            # Already further along its timeline (out for delivery, delivered): it has left.
            if not (answered(exc) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION):
                raise

    async def create_shipment(
        self, order_id: int, user_id: int, address: common_pb2.Address, method: str
    ) -> shipping_pb2.Shipment:
        """Idempotent per order."""
        if self.shipping is None:
            raise DomainError(OrderError.SHIPPING_UNAVAILABLE)
        shipping = self.shipping
        request = shipping_pb2.CreateShipmentRequest(
            order_id=order_id, user_id=user_id, address=address, method=method
        )

        async def call() -> shipping_pb2.Shipment:
            reply: shipping_pb2.CreateShipmentResponse = await shipping.CreateShipment(
                request, metadata=await self.service_metadata()
            )
            return reply.shipment

        return await once_more_if_unknown(call)

    async def charge(self, request: payments_pb2.ChargeRequest) -> payments_pb2.Payment:
        """The charge; DomainError(PAYMENT_OUTCOME_UNKNOWN) when a request may have reached payments
        without an answer (it ran out of time), so the card may or may not have been charged."""
        maybe_charged = False

        async def call() -> payments_pb2.Payment:
            nonlocal maybe_charged
            try:
                reply: payments_pb2.ChargeResponse = await self.payments.Charge(
                    request, metadata=await self.service_metadata()
                )
            except grpc.aio.AioRpcError as exc:
                # UNAVAILABLE almost always means payments is down and the request never got
                # there: checkout fails the order at once. It may also mean payments charged and
                # died before answering, so that order is marked payment_unsettled and the
                # recovery pass refunds what it finds. A deadline or an internal error leaves the
                # order PENDING instead: payments is up and the charge may still be completing.
                if not answered(exc) and exc.code() != grpc.StatusCode.UNAVAILABLE:
                    maybe_charged = True
                raise
            return reply.payment

        try:
            return await once_more_if_unknown(call)
        except grpc.aio.AioRpcError as exc:
            if maybe_charged and not answered(exc):
                raise DomainError(OrderError.PAYMENT_OUTCOME_UNKNOWN) from exc
            raise

    async def refund(
        self, payment_id: str, key: str, reason: str, amount: common_pb2.Money | None = None
    ) -> payments_pb2.Payment:
        """A refund of `amount`, or of everything left when None; idempotent per key."""
        request = payments_pb2.RefundRequest(
            payment_id=payment_id, idempotency_key=key, reason=reason, amount=amount
        )

        async def call() -> payments_pb2.Payment:
            reply: payments_pb2.RefundResponse = await self.payments.Refund(
                request, metadata=await self.service_metadata()
            )
            return reply.payment

        return await once_more_if_unknown(call)
