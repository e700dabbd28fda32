"""Checkout: turns the caller's cart into a paid order, or leaves everything as it was.

    1. read the cart and its version (caller's token)   empty          -> FAILED_PRECONDITION
    2. price every line from the catalog          product gone          -> FAILED_PRECONDITION
    3. shipping: the address given, else the profile's default; quote it and take the requested
       method or the cheapest. No address, or none given and shipping not reachable: no shipping
       is charged (logged). An address given that cannot be quoted             -> UNAVAILABLE
    4. insert the order PENDING with its lines (an idempotency key already used returns that order),
       claiming the cart's version: a second checkout of the same cart, whatever its key, while
       this one runs or after it succeeded                                   -> ABORTED (409)
    5. reserve the stock, reference order:<id>    insufficient          -> order FAILED
    6. charge (key order:<id>:charge); the hold taken in 5 already lasts as long as a charge may
                                                  declined / down       -> release, order FAILED
    7. commit the reservation                     hold gone, no stock   -> refund, order FAILED
                                                  inventory down        -> stays PENDING (paid);
                                                                           the recovery pass ends it
    8. order PAID; create the shipment (shipping down: needs_shipment, the recovery pass retries);
       clear the cart (a failure there is only logged)

Steps 5-8 run to completion even if the caller goes away. The cart is only touched in step 8, so
it is intact after every failure. A cancel that lands while the order is PENDING only flips the
status; this flow sees it and gives the money and stock back itself. A process killed between 5
and 8 leaves a PENDING order: `recovery.Recovery` finishes or rolls it back, and the reservation's
TTL (swept by inventory) frees the stock even if orders never comes back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from google.protobuf import json_format

from services.kit import money, telemetry, text
from services.kit.clients import absent, answered, dependency_error
from services.kit.errors import DomainError, invalid
from services.kit.principal import Principal
from shop.cart.v1 import cart_pb2
from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.orders.v1 import orders_pb2
from shop.payments.v1 import payments_pb2
from shop.profile.v1 import profile_pb2
from shop.shipping.v1 import shipping_pb2

from . import domain, metrics
from .domain import CatalogPrice, OrderError, PricedLine, ShippingOption, Status
from .downstream import Downstream, to_completion
from .settlement import Settlement
from .store import OrderData, OrdersStore, OrderView

log = logging.getLogger(__name__)

DEFAULT_PAYMENT_TOKEN = "tok_test_visa"
SYSTEM = "system:checkout"
# How long a raced repeat of an idempotency key waits for the first request to finish.
SETTLE_SECONDS = 10.0

# How a payment service's deliberate "no" is passed on to the customer.
_PAYMENT_ANSWERS = {
    grpc.StatusCode.FAILED_PRECONDITION: OrderError.PAYMENT_DECLINED,
    grpc.StatusCode.INVALID_ARGUMENT: OrderError.PAYMENT_INVALID,
    grpc.StatusCode.UNAVAILABLE: OrderError.PAYMENT_PROVIDER_UNAVAILABLE,
}
_HELD = inventory_pb2.RESERVATION_STATE_HELD


@dataclass(frozen=True)
class Holds:
    """How long inventory holds an order's stock: while checking out, and from the charge on."""

    reserve_seconds: int = 300
    payment_seconds: int = 900

    def for_checkout(self) -> int:
        """The hold taken at checkout. The charge follows the reservation at once, so the hold is
        taken for as long as the charge needs in the first place: a slow provider must not let
        the stock go (this saves the ExtendReservation round trip the flow used to make)."""
        return max(self.reserve_seconds, self.payment_seconds)


def actor_of(caller: Principal) -> str:
    if caller.is_service:
        return caller.subject
    return f"{'admin' if caller.is_admin else 'user'}:{caller.user_id}"


def _unavailable(service: str, exc: grpc.aio.AioRpcError) -> DomainError | grpc.aio.AioRpcError:
    return dependency_error(exc, f"{service} service unavailable", OrderError.DEPENDENCY_UNAVAILABLE) or exc


def payment_method(given: payments_pb2.PaymentMethod) -> payments_pb2.PaymentMethod:
    """The token to charge (the test provider's approving one when none is given). Card data is
    refused before anything is created: cards go to payments' tokenization endpoint, never here."""
    which = given.WhichOneof("method")
    if which == "card":
        raise invalid("card data is not accepted; tokenize it first")
    if which is None or not given.token:
        return payments_pb2.PaymentMethod(token=DEFAULT_PAYMENT_TOKEN)
    return given


def address_json(address: common_pb2.Address | None) -> str:
    return json_format.MessageToJson(address, indent=None) if address is not None else ""


def address_of(order: OrderData) -> common_pb2.Address | None:
    if not order.shipping_address:
        return None
    return json_format.Parse(order.shipping_address, common_pb2.Address())


class Checkout:
    def __init__(self, store: OrdersStore, downstream: Downstream, holds: Holds | None = None) -> None:
        self._store = store
        self._down = downstream
        self._holds = holds or Holds()
        self.settlement = Settlement(store, downstream)

    @metrics.counts_checkout
    async def create(self, caller: Principal, request: orders_pb2.CreateOrderRequest) -> OrderView:
        key = text.bounded(request.idempotency_key, "idempotency_key", domain.MAX_KEY) or None
        method = payment_method(request.payment_method)
        user_id, actor = caller.user_id, actor_of(caller)

        # A repeat of a request already taken changes nothing (the cart may be empty by now).
        if key is not None:
            earlier = await self._store.by_key(user_id, key)
            if earlier is not None:
                return await self._settled(user_id, key, earlier)

        given = request.shipping_address if request.HasField("shipping_address") else None
        if given is None:
            # Independent reads, side by side.
            (quantities, cart_version), address = await asyncio.gather(self._cart(), self._default_address())
        else:
            (quantities, cart_version), address = await self._cart(), given
        lines, currency = domain.price_lines(quantities, await self._prices(list(quantities)))
        address, option = await self._shipping(
            address, given is not None, request.shipping_method.strip(), lines, currency
        )
        totals = domain.totals(lines, currency, option.cost_minor if option else 0)
        view, created = await self._store.create(
            user_id,
            key,
            lines,
            totals,
            actor,
            cart_version=cart_version,
            shipping_address=address_json(address),
            shipping_method=option.method if option else "",
        )
        if not created:
            return await self._settled(user_id, key, view)
        return await to_completion(self._complete(view, method))

    async def _settled(self, user_id: int, key: str | None, view: OrderView) -> OrderView:
        """A raced repeat waits for the first request to finish, then answers as it ended."""
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while view.status is Status.PENDING and key is not None:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
            view = await self._store.by_key(user_id, key) or view
        domain.repeated_checkout(view.status)
        return view

    # --- reading the cart, prices and shipping -----------------------------------------------

    @telemetry.step("checkout.read_cart")
    async def _cart(self) -> tuple[dict[int, int], str]:
        """The cart's quantities per product and the version they were read at."""
        try:
            reply = await self._down.cart.GetCart(cart_pb2.GetCartRequest())
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("cart", exc) from exc
        quantities = domain.merge_quantities((i.product_id, i.quantity) for i in reply.cart.items)
        if not quantities:
            raise DomainError(OrderError.CART_EMPTY)
        return quantities, domain.cart_claim(reply.cart.version, quantities)

    @telemetry.step("checkout.price")
    async def _prices(self, product_ids: list[int]) -> dict[int, CatalogPrice]:
        try:
            reply = await self._down.catalog.BatchGetProducts(
                catalog_pb2.BatchGetProductsRequest(ids=product_ids)
            )
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("catalog", exc) from exc
        return {
            p.id: CatalogPrice(p.id, p.name, p.price.amount_minor, p.price.currency) for p in reply.products
        }

    async def _default_address(self) -> common_pb2.Address | None:
        """The caller's default address, or None (none saved, or profile not reachable)."""
        if self._down.profile is None:
            return None
        try:
            reply = await self._down.profile.GetDefaultAddress(profile_pb2.GetDefaultAddressRequest())
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.info("default address not read", extra={"code": exc.code().name})
            return None
        if not reply.HasField("address") or not reply.address.HasField("address"):
            return None
        address: common_pb2.Address = reply.address.address
        return address

    @telemetry.step("checkout.shipping")
    async def _shipping(
        self,
        address: common_pb2.Address | None,
        given: bool,
        requested: str,
        lines: list[PricedLine],
        currency: str,
    ) -> tuple[common_pb2.Address | None, ShippingOption | None]:
        """Where the order goes (the address given, else the default one) and the shipping option
        charged for (None: nothing charged)."""
        if address is None:
            log.info("checkout without a shipping address: no shipping charged")
            return None, None
        if self._down.shipping is None:
            if given:
                raise DomainError(OrderError.SHIPPING_UNAVAILABLE)
            return address, None
        request = shipping_pb2.QuoteShippingRequest(
            address=address,
            lines=[
                shipping_pb2.QuoteLine(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price=money.of(line.unit_price_minor, currency),
                )
                for line in lines
            ],
        )
        try:
            reply = await self._down.shipping.QuoteShipping(request)
        except grpc.aio.AioRpcError as exc:
            if absent(exc) and not given:
                # Shipping is optional until it is deployed: the parcel is created later.
                log.warning(
                    "shipping unavailable at checkout: no shipping charged", extra={"code": exc.code().name}
                )
                return address, None
            if answered(exc) and exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise invalid(f"shipping address: {exc.details()}") from exc
            raise DomainError(
                OrderError.SHIPPING_UNAVAILABLE, "shipping service unavailable; cannot quote delivery"
            ) from exc
        options = [ShippingOption(o.method, o.cost.amount_minor, o.cost.currency) for o in reply.options]
        return address, domain.choose_shipping(options, requested, currency)

    # --- the part that changes other services ------------------------------------------------

    async def _complete(self, view: OrderView, method: payments_pb2.PaymentMethod) -> OrderView:
        order = view.order
        reservation_id = await self._reserve(view)
        await self._unless_cancelled(order.id, reservation_id, None)
        payment = await self._pay(view, reservation_id, method)
        await self._unless_cancelled(order.id, reservation_id, payment)
        await self._take_stock(view, reservation_id, payment)
        paid = await self.mark_paid(view, payment, reservation_id)
        # The shipment and the emptied cart do not depend on each other.
        await asyncio.gather(self.ship(paid), self._clear_cart(order.id))
        done = await self._store.get(order.id)
        assert done is not None
        return done

    async def _clear_cart(self, order_id: int) -> None:
        try:
            await self._down.cart.ClearCart(cart_pb2.ClearCartRequest())
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "cart not cleared after checkout", extra={"order_id": order_id, "code": exc.code().name}
            )

    @telemetry.step("checkout.reserve")
    async def _reserve(self, view: OrderView) -> str:
        order = view.order
        try:
            reservation = await self._down.reserve(
                f"order:{order.id}", view.quantities, self._holds.for_checkout()
            )
        except grpc.aio.AioRpcError as exc:
            if answered(exc) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                detail = exc.details() or ""
                message = (
                    detail if detail.startswith("insufficient stock") else "insufficient stock for this order"
                )
                await self._fail(order.id, message)
                raise DomainError(OrderError.INSUFFICIENT_STOCK, message) from exc
            # Unknown after asking twice: a hold may exist; its TTL frees it.
            await self._fail(order.id, f"could not reserve stock: {exc.code().name}")
            log.warning("reservation outcome unknown", extra={"order_id": order.id, "code": exc.code().name})
            raise _unavailable("inventory", exc) from exc
        except DomainError as exc:  # no service token
            await self._fail(order.id, exc.message)
            raise
        if reservation.state != _HELD:
            await self._fail(
                order.id, "the stock reservation for this order is no longer held", reservation.id
            )
            raise DomainError(OrderError.INSUFFICIENT_STOCK, "the stock reservation for this order expired")
        return str(reservation.id)

    async def _unless_cancelled(
        self, order_id: int, reservation_id: str, payment: payments_pb2.Payment | None
    ) -> None:
        """A cancel that flipped the PENDING order left the money and stock to this flow."""
        if await self._store.status(order_id) is Status.PENDING:
            return
        if payment is not None:
            await self.settlement.refund(
                order_id, payment.id, Status.CANCELLED, "order cancelled during checkout"
            )
        await self.release(order_id, reservation_id, "order cancelled during checkout", Status.CANCELLED)
        raise DomainError(
            OrderError.CANCELLED_DURING_CHECKOUT, f"order {order_id} was cancelled during checkout"
        )

    @telemetry.step("checkout.pay")
    async def _pay(
        self, view: OrderView, reservation_id: str, method: payments_pb2.PaymentMethod
    ) -> payments_pb2.Payment:
        order = view.order
        try:
            return await self._charge(order, method)
        except (grpc.aio.AioRpcError, DomainError) as exc:
            if isinstance(exc, DomainError) and exc.code is OrderError.PAYMENT_OUTCOME_UNKNOWN:
                # Neither release nor fail: the recovery pass asks payments once it can and finishes
                # the order (charged) or rolls it back (not charged). The hold outlives that wait.
                note = "payment outcome unknown; left for recovery"
                await self._store.note(order.id, Status.PENDING, note, SYSTEM)
                raise
            error = self._payment_error(order.id, exc)
            await self.release(order.id, reservation_id, "payment failed", Status.PENDING)
            # No answer, even to the retry: payments may have charged and then lost its answer
            # (died, connection cut). The recovery pass looks and refunds anything it finds.
            unanswered = isinstance(exc, grpc.aio.AioRpcError) and not answered(exc)
            await self._fail(
                order.id, f"payment failed: {error.message}", reservation_id, payment_unsettled=unanswered
            )
            raise error from exc

    async def _charge(self, order: OrderData, method: payments_pb2.PaymentMethod) -> payments_pb2.Payment:
        reference = f"order:{order.id}"
        return await self._down.charge(
            payments_pb2.ChargeRequest(
                idempotency_key=f"{reference}:charge",
                order_reference=reference,
                user_id=order.user_id,
                amount=money.of(order.total_minor, order.currency),
                method=method,
            )
        )

    @telemetry.step("checkout.take_stock")
    async def _take_stock(self, view: OrderView, reservation_id: str, payment: payments_pb2.Payment) -> None:
        """Commits the hold. If it is gone (expired and swept), takes the stock directly if it is
        still there; if not, refunds and fails the order. Inventory down: the order stays PENDING
        with its payment, and the recovery pass completes it."""
        order = view.order
        try:
            await self._down.commit(reservation_id)
            return
        except (grpc.aio.AioRpcError, DomainError) as exc:
            if not (isinstance(exc, grpc.aio.AioRpcError) and answered(exc)):
                await self._store.note(
                    order.id, Status.PENDING, f"payment {payment.id} captured; stock commit pending", SYSTEM
                )
                raise DomainError(
                    OrderError.PAID_COMPLETING,
                    f"order {order.id} is paid; inventory is unavailable and the order will be completed",
                ) from exc
            lost = exc.details() or "reservation closed"
        if await self.take_directly(view, f"stock held was lost ({lost})"):
            return
        # The refund's outcome is noted by settlement (and retried by recovery if it failed).
        reason = f"stock lost before commit ({lost})"
        await self.settlement.refund(order.id, payment.id, Status.PENDING, reason)
        await self._fail(order.id, reason)
        raise DomainError(OrderError.STOCK_LOST)

    async def take_directly(self, view: OrderView, reason: str) -> bool:
        """Takes the order's stock without a hold (its hold expired). False when not in stock."""
        take = [(p, -q) for p, q in view.quantities]
        try:
            await self._down.adjust_stock(take, f"order:{view.order.id}:take", reason)
        except grpc.aio.AioRpcError as exc:
            if answered(exc) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return False
            raise
        return True

    @telemetry.step("checkout.mark_paid")
    async def mark_paid(
        self, view: OrderView, payment: payments_pb2.Payment, reservation_id: str | None = None
    ) -> OrderView:
        order = view.order
        moved = await self._store.transition(
            order.id,
            [Status.PENDING],
            Status.PAID,
            f"payment {payment.id}",
            SYSTEM,
            payment_id=payment.id,
            needs_shipment=bool(order.shipping_address),
            reservation_id=reservation_id,
        )
        if moved is None:
            # Cancelled after the stock was committed: the cancel left the money and stock to us.
            reason = "order cancelled during checkout"
            await self.settlement.refund(order.id, payment.id, Status.CANCELLED, reason)
            await self.settlement.restock(
                order.id, view.quantities, f"order:{order.id}:restock", Status.CANCELLED, reason
            )
            raise DomainError(
                OrderError.CANCELLED_DURING_CHECKOUT, f"order {order.id} was cancelled during checkout"
            )
        metrics.paid(order)
        if not order.shipping_address:
            return view  # nothing to ship: the caller reads the order afresh anyway
        paid = await self._store.get(order.id)
        assert paid is not None
        return paid

    @telemetry.step("checkout.ship")
    async def ship(self, view: OrderView) -> None:
        """Creates the paid order's shipment (idempotent per order). Shipping down: left for the
        recovery pass (needs_shipment stays set); refused: recorded and not retried."""
        order = view.order
        address = address_of(order)
        if address is None or order.shipment_id:
            return
        method = order.shipping_method or await self._cheapest_method(address, view)
        try:
            shipment = await self._down.create_shipment(order.id, order.user_id, address, method)
        except (grpc.aio.AioRpcError, DomainError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and answered(exc):
                log.error("shipment refused", extra={"order_id": order.id, "error": exc.details()})
                await self._store.update(order.id, needs_shipment=False)
                await self._store.note(order.id, view.status, f"shipment refused: {exc.details()}", SYSTEM)
            else:
                log.warning("shipment not created yet: shipping unavailable", extra={"order_id": order.id})
            return
        await self._store.update(order.id, shipment_id=shipment.id, needs_shipment=False)
        await self._store.note(order.id, view.status, f"shipment {shipment.id} created", SYSTEM)

    async def _cheapest_method(self, address: common_pb2.Address, view: OrderView) -> str:
        """For an order taken while shipping was down: the cheapest method (not charged)."""
        if self._down.shipping is None:
            return ""
        request = shipping_pb2.QuoteShippingRequest(
            address=address,
            lines=[shipping_pb2.QuoteLine(product_id=p, quantity=q) for p, q in view.quantities],
        )
        try:
            reply = await self._down.shipping.QuoteShipping(
                request, metadata=await self._down.service_metadata()
            )
        except (grpc.aio.AioRpcError, DomainError):
            return ""
        return str(reply.options[0].method) if reply.options else ""

    @staticmethod
    def _payment_error(order_id: int, exc: grpc.aio.AioRpcError | DomainError) -> DomainError:
        if isinstance(exc, DomainError):
            return exc
        kind = _PAYMENT_ANSWERS.get(exc.code()) if answered(exc) else None
        if kind is not None:
            return DomainError(kind, exc.details() or kind.message)
        if answered(exc):
            log.error("payment refused unexpectedly", extra={"order_id": order_id, "code": exc.code().name})
        else:
            # Asked twice without an answer: the charge may exist. Its key makes any retry safe, and
            # payments lists it under the order's reference for reconciliation.
            log.error("charge outcome unknown", extra={"order_id": order_id, "code": exc.code().name})
        return DomainError(OrderError.PAYMENT_UNAVAILABLE)

    async def _fail(
        self, order_id: int, note: str, reservation_id: str | None = None, *, payment_unsettled: bool = False
    ) -> None:
        await self._store.transition(
            order_id,
            [Status.PENDING],
            Status.FAILED,
            note,
            SYSTEM,
            reservation_id=reservation_id,
            payment_unsettled=payment_unsettled or None,
        )

    async def release(self, order_id: int, reservation_id: str, reason: str, status: Status) -> None:
        """Gives held stock back; if inventory cannot be reached, the reservation's TTL will."""
        try:
            await self._down.release(reservation_id, reason)
        except (grpc.aio.AioRpcError, DomainError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and answered(exc):
                return  # already expired or released: nothing is held
            log.error(
                "reservation not released",
                extra={"order_id": order_id, "reservation_id": reservation_id, "error": str(exc)},
            )
            await self._store.note(
                order_id, status, f"reservation {reservation_id} not released: it expires on its own", SYSTEM
            )
