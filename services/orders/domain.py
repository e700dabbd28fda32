"""Pure order rules: the status state machine, pricing and totals in integer minor units."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.kit.errors import DomainError, ErrorCode, Kind
from services.kit.money import MAX_AMOUNT_MINOR

MAX_KEY = 200
MAX_NOTE = 500


class OrderError(ErrorCode):
    ORDER_NOT_FOUND = Kind.NOT_FOUND, "order not found"
    CART_EMPTY = Kind.FAILED_PRECONDITION, "cart is empty"
    PRODUCT_UNAVAILABLE = Kind.FAILED_PRECONDITION, "a product in the cart is no longer available"
    MIXED_CURRENCIES = Kind.FAILED_PRECONDITION, "all products of an order must share one currency"
    TOTAL_TOO_LARGE = Kind.FAILED_PRECONDITION, "order total is too large"
    INSUFFICIENT_STOCK = Kind.FAILED_PRECONDITION, "insufficient stock"
    PAYMENT_DECLINED = Kind.FAILED_PRECONDITION, "payment declined"
    PAYMENT_INVALID = Kind.INVALID_ARGUMENT, "invalid payment method"
    PAYMENT_PROVIDER_UNAVAILABLE = Kind.UNAVAILABLE, "payment provider unavailable"
    PAYMENT_UNAVAILABLE = Kind.UNAVAILABLE, "payment service unavailable"
    PAYMENT_OUTCOME_UNKNOWN = (
        Kind.UNAVAILABLE,
        "the payment's outcome is not known yet; the order will be confirmed or cancelled shortly",
    )
    DEPENDENCY_UNAVAILABLE = Kind.UNAVAILABLE, "a service orders depends on is unavailable"
    CANCELLED_DURING_CHECKOUT = Kind.FAILED_PRECONDITION, "the order was cancelled during checkout"
    INVALID_TRANSITION = Kind.FAILED_PRECONDITION, "order status cannot change that way"
    NOT_CANCELLABLE = Kind.FAILED_PRECONDITION, "order cannot be cancelled"
    CHECKOUT_OWNED = Kind.FAILED_PRECONDITION, "that status is set by checkout only"
    NOTHING_TO_REFUND = Kind.FAILED_PRECONDITION, "the order has no payment to refund"
    NOT_REFUNDABLE = Kind.FAILED_PRECONDITION, "the order was never paid or has been closed"
    REFUND_TOO_LARGE = Kind.FAILED_PRECONDITION, "the refund is larger than what is left to refund"
    KEY_FAILED = (
        Kind.FAILED_PRECONDITION,
        "the checkout with this idempotency key failed; send a new key to try again",
    )
    KEY_IN_PROGRESS = Kind.ABORTED, "a checkout with this idempotency key is still in progress; retry"
    CART_CHECKOUT_IN_PROGRESS = Kind.ABORTED, "this cart is already being checked out"
    CART_ALREADY_ORDERED = Kind.ABORTED, "this cart has already been ordered"
    USER_CHECKING_OUT = Kind.UNAVAILABLE, "an order of this user is still checking out; try again shortly"
    CONCURRENT_CHANGE = Kind.ABORTED, "the order changed concurrently; try again"
    SHIPPING_UNAVAILABLE = Kind.UNAVAILABLE, "shipping service unavailable"
    NO_SHIPPING_METHOD = Kind.FAILED_PRECONDITION, "no shipping method delivers to this address"
    UNKNOWN_SHIPPING_METHOD = Kind.INVALID_ARGUMENT, "that shipping method is not offered for this address"
    ALREADY_SHIPPED = Kind.FAILED_PRECONDITION, "the order has shipped and can no longer be cancelled"
    STOCK_LOST = (
        Kind.FAILED_PRECONDITION,
        "the stock held for this order ran out before payment completed; the payment was refunded",
    )
    PAID_COMPLETING = (
        Kind.UNAVAILABLE,
        "the order is paid; inventory is unavailable and the order will be completed shortly",
    )


class Status(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    FAILED = "failed"


# The whole state machine: from -> the statuses it may move to. Absent = terminal.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PAID, Status.FAILED, Status.CANCELLED}),
    Status.PAID: frozenset({Status.FULFILLED, Status.SHIPPED, Status.CANCELLED, Status.REFUNDED}),
    Status.FULFILLED: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.SHIPPED: frozenset({Status.DELIVERED}),
    Status.DELIVERED: frozenset({Status.REFUNDED}),
}

# What a cancel may start from (the statuses with a move to CANCELLED).
CANCELLABLE: frozenset[Status] = frozenset(
    s for s, targets in TRANSITIONS.items() if Status.CANCELLED in targets
)
# Statuses whose payment may be refunded, in whole or in part (REFUNDED answers retries).
REFUNDABLE: frozenset[Status] = frozenset(
    {Status.PAID, Status.FULFILLED, Status.SHIPPED, Status.DELIVERED, Status.REFUNDED}
)
# What an operator may mark an order as by hand, and how far along each one already is.
FULFILMENT_REACHED: Mapping[Status, frozenset[Status]] = {
    Status.FULFILLED: frozenset({Status.FULFILLED, Status.SHIPPED, Status.DELIVERED}),
    Status.SHIPPED: frozenset({Status.SHIPPED, Status.DELIVERED}),
}
# Statuses only the checkout flow sets, never an operator through UpdateOrderStatus.
CHECKOUT_OWNED: frozenset[Status] = frozenset({Status.PENDING, Status.PAID, Status.FAILED})


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def check_transition(current: Status, target: Status) -> None:
    if not can_transition(current, target):
        raise DomainError(OrderError.INVALID_TRANSITION, f"an order cannot move from {current} to {target}")


# Statuses in which something has left the warehouse: too late to cancel.
SHIPPED_ALREADY: frozenset[Status] = frozenset({Status.SHIPPED, Status.DELIVERED})


def check_cancellable(current: Status) -> None:
    if current in SHIPPED_ALREADY:
        raise DomainError(
            OrderError.ALREADY_SHIPPED, f"the order is {current} and can no longer be cancelled"
        )
    if current not in CANCELLABLE:
        raise DomainError(OrderError.NOT_CANCELLABLE, f"order cannot be cancelled in status {current}")


@dataclass(frozen=True)
class CatalogPrice:
    """What the catalog says a product costs right now."""

    product_id: int
    name: str
    price_minor: int
    currency: str


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    product_name: str
    quantity: int
    unit_price_minor: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    shipping_minor: int
    total_minor: int
    currency: str


def merge_quantities(items: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Cart (product_id, quantity) pairs, one entry per product, in first-seen order."""
    merged: dict[int, int] = {}
    for product_id, quantity in items:
        if quantity > 0:
            merged[product_id] = merged.get(product_id, 0) + quantity
    return merged


def price_lines(
    quantities: Mapping[int, int], prices: Mapping[int, CatalogPrice]
) -> tuple[list[PricedLine], str]:
    """Prices every line from the catalog; every product must exist and all share one currency,
    which is returned with the lines."""
    lines = []
    for product_id, quantity in quantities.items():
        price = prices.get(product_id)
        if price is None:
            raise DomainError(OrderError.PRODUCT_UNAVAILABLE, f"product {product_id} is no longer available")
        lines.append(PricedLine(product_id, price.name, quantity, price.price_minor))
    currencies = sorted({prices[line.product_id].currency for line in lines})
    if len(currencies) > 1:
        raise DomainError(
            OrderError.MIXED_CURRENCIES,
            f"the cart mixes currencies ({', '.join(currencies)}); check out one currency at a time",
        )
    if not lines:
        raise DomainError(OrderError.CART_EMPTY)
    return lines, currencies[0]


def totals(lines: Sequence[PricedLine], currency: str, shipping_minor: int = 0) -> Totals:
    subtotal = sum(line.total_minor for line in lines)
    total = subtotal + shipping_minor
    if total > MAX_AMOUNT_MINOR:
        raise DomainError(OrderError.TOTAL_TOO_LARGE)
    return Totals(subtotal, shipping_minor, total, currency)


@dataclass(frozen=True)
class ShippingOption:
    method: str
    cost_minor: int
    currency: str


def choose_shipping(options: Sequence[ShippingOption], requested: str, currency: str) -> ShippingOption:
    """The requested method, or the cheapest one when none was named (ties: the first offered)."""
    offered = [o for o in options if o.currency in ("", currency)]
    if not offered:
        raise DomainError(OrderError.NO_SHIPPING_METHOD)
    if requested:
        for option in offered:
            if option.method == requested:
                return option
        methods = ", ".join(sorted({o.method for o in offered}))
        raise DomainError(
            OrderError.UNKNOWN_SHIPPING_METHOD,
            f"shipping method {requested!r} is not offered for this address (offered: {methods})",
        )
    return min(offered, key=lambda o: o.cost_minor)


def repeated_checkout(status: Status) -> None:
    """A repeated idempotency key answers as the first request ended: the order, or the failure."""
    if status is Status.FAILED:
        raise DomainError(OrderError.KEY_FAILED)
    if status is Status.PENDING:
        raise DomainError(OrderError.KEY_IN_PROGRESS)


def cart_claim(version: str, quantities: Mapping[int, int]) -> str:
    """What an order claims of its cart: the cart's version, which never repeats. A cart written
    before carts had versions is claimed by its content instead."""
    if version:
        return version
    content = ",".join(f"{p}x{q}" for p, q in sorted(quantities.items()))
    return "content:" + hashlib.sha256(content.encode()).hexdigest()[:40]


def cart_taken(status: Status) -> OrderError:
    """Why a checkout may not claim a cart another order holds in `status`."""
    return (
        OrderError.CART_CHECKOUT_IN_PROGRESS if status is Status.PENDING else OrderError.CART_ALREADY_ORDERED
    )
