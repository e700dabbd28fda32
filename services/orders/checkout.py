"""Checkout: turns the caller's cart into a paid order, or leaves everything as it was.

    1. read the cart (caller's token)          empty            -> FAILED_PRECONDITION
    2. price every line from the catalog       product gone     -> FAILED_PRECONDITION
    3. insert the order PENDING with its lines (an idempotency key already used returns that order)
    4. take the stock, reference order:<id>    insufficient     -> order FAILED
    5. charge, key order:<id>:charge           declined / down  -> stock back, order FAILED
    6. order PAID, then clear the cart (a failure there is only logged)

Steps 4-6 run to completion even if the caller goes away. The cart is only touched in step 6, so
it is intact after every failure. A cancel that lands while the order is PENDING only flips the
status; this flow sees that in step 6 and gives the money and stock back itself.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from services.kit import money
from services.kit.errors import DomainError, invalid
from services.kit.principal import Principal
from shop.cart.v1 import cart_pb2
from shop.catalog.v1 import catalog_pb2
from shop.orders.v1 import orders_pb2
from shop.payments.v1 import payments_pb2

from . import domain
from .domain import CatalogPrice, OrderError, Status
from .downstream import Downstream, answered, to_completion
from .store import OrdersStore, OrderView

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


def actor_of(caller: Principal) -> str:
    if caller.is_service:
        return caller.subject
    return f"{'admin' if caller.is_admin else 'user'}:{caller.user_id}"


def _unavailable(service: str, exc: grpc.aio.AioRpcError) -> DomainError | grpc.aio.AioRpcError:
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return DomainError(OrderError.DEPENDENCY_UNAVAILABLE, f"{service} service unavailable")
    return exc


class Checkout:
    def __init__(self, store: OrdersStore, downstream: Downstream) -> None:
        self._store = store
        self._down = downstream

    async def create(self, caller: Principal, request: orders_pb2.CreateOrderRequest) -> OrderView:
        key = request.idempotency_key.strip() or None
        if key is not None and len(key) > domain.MAX_KEY:
            raise invalid(f"idempotency_key must be at most {domain.MAX_KEY} characters")
        method = request.payment_method
        if method.WhichOneof("method") is None or (
            method.WhichOneof("method") == "token" and not method.token
        ):
            method = payments_pb2.PaymentMethod(token=DEFAULT_PAYMENT_TOKEN)
        user_id, actor = caller.user_id, actor_of(caller)

        # A repeat of a request already taken changes nothing (the cart may be empty by now).
        if key is not None:
            earlier = await self._store.by_key(user_id, key)
            if earlier is not None:
                return await self._settled(user_id, key, earlier)

        quantities = await self._cart()
        lines, currency = domain.price_lines(quantities, await self._prices(list(quantities)))
        totals = domain.totals(lines, currency)
        view, created = await self._store.create(user_id, key, lines, totals, actor)
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

    # --- reading the cart and prices ---------------------------------------------------------

    async def _cart(self) -> dict[int, int]:
        try:
            reply = await self._down.cart.GetCart(cart_pb2.GetCartRequest())
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("cart", exc) from exc
        quantities = domain.merge_quantities((i.product_id, i.quantity) for i in reply.cart.items)
        if not quantities:
            raise DomainError(OrderError.CART_EMPTY)
        return quantities

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

    # --- the part that changes other services ------------------------------------------------

    async def _complete(self, view: OrderView, method: payments_pb2.PaymentMethod) -> OrderView:
        order = view.order
        reference = f"order:{order.id}"
        take = [(line.product_id, -line.quantity) for line in view.lines]
        give_back = [(line.product_id, line.quantity) for line in view.lines]

        try:
            await self._down.adjust_stock(take, reference, f"order {order.id}")
        except grpc.aio.AioRpcError as exc:
            if answered(exc) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                detail = exc.details() or ""
                message = (
                    detail if detail.startswith("insufficient stock") else "insufficient stock for this order"
                )
                await self._fail(order.id, message)
                raise DomainError(OrderError.INSUFFICIENT_STOCK, message) from exc
            # Not taken, or unknown after asking twice: never give back what may not have been taken.
            await self._fail(order.id, f"could not take stock: {exc.code().name}")
            log.warning("stock outcome unknown", extra={"order_id": order.id, "code": exc.code().name})
            raise _unavailable("inventory", exc) from exc
        except DomainError as exc:  # no service token
            await self._fail(order.id, exc.message)
            raise

        if not await self._still_pending(order.id):
            await self._restock(order.id, give_back, f"{reference}:restock", Status.CANCELLED)
            raise DomainError(
                OrderError.CANCELLED_DURING_CHECKOUT, f"order {order.id} was cancelled during checkout"
            )

        try:
            payment = await self._down.charge(
                payments_pb2.ChargeRequest(
                    idempotency_key=f"{reference}:charge",
                    order_reference=reference,
                    user_id=order.user_id,
                    amount=money.of(order.total_minor, order.currency),
                    method=method,
                )
            )
        except (grpc.aio.AioRpcError, DomainError) as exc:
            error = self._payment_error(order.id, exc)
            await self._restock(order.id, give_back, f"{reference}:restock", Status.PENDING)
            await self._fail(order.id, f"payment failed: {error.message}")
            raise error from exc

        moved = await self._store.transition(
            order.id, [Status.PENDING], Status.PAID, f"payment {payment.id}", SYSTEM, payment_id=payment.id
        )
        if moved is None:
            # Cancelled while we were charging: the cancel left the money and stock to us.
            await self._refund(order.id, payment.id, f"{reference}:refund")
            await self._restock(order.id, give_back, f"{reference}:restock", Status.CANCELLED)
            raise DomainError(
                OrderError.CANCELLED_DURING_CHECKOUT, f"order {order.id} was cancelled during checkout"
            )

        try:
            await self._down.cart.ClearCart(cart_pb2.ClearCartRequest())
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "cart not cleared after checkout", extra={"order_id": order.id, "code": exc.code().name}
            )
        paid = await self._store.get(order.id)
        assert paid is not None
        return paid

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

    async def _still_pending(self, order_id: int) -> bool:
        view = await self._store.get(order_id)
        return view is not None and view.status is Status.PENDING

    async def _fail(self, order_id: int, note: str) -> None:
        await self._store.transition(order_id, [Status.PENDING], Status.FAILED, note, SYSTEM)

    async def _restock(
        self, order_id: int, lines: list[tuple[int, int]], reference: str, status: Status
    ) -> None:
        try:
            await self._down.adjust_stock(lines, reference, f"order {order_id} not completed")
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.error(
                "stock not given back",
                extra={"order_id": order_id, "reference": reference, "error": str(exc)},
            )
            await self._store.note(
                order_id, status, f"stock not given back ({reference}): retry needed", SYSTEM
            )

    async def _refund(self, order_id: int, payment_id: str, key: str) -> None:
        try:
            await self._down.refund(payment_id, key, "order cancelled during checkout")
        except (grpc.aio.AioRpcError, DomainError) as exc:
            log.error(
                "payment not refunded",
                extra={"order_id": order_id, "payment_id": payment_id, "error": str(exc)},
            )
            await self._store.note(
                order_id, Status.CANCELLED, f"payment {payment_id} not refunded: retry needed", SYSTEM
            )
