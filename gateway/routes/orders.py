"""/api/orders: checkout from the cart, order details, cancellation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictStr, model_validator

from gateway import money
from gateway.errors import ApiError
from gateway.models import Amount, Message, Price, QueryParams, RequestBody
from gateway.routing import Ctx, HeaderParam, Route
from shop.common.v1 import common_pb2
from shop.orders.v1 import orders_pb2

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
_STATUS_PREFIX = "ORDER_STATUS_"


# Cards go to the payment provider's tokenization endpoint from the browser; only tokens come here.
CARD_REFUSED = (
    "card data is not accepted here; tokenize the card at the payments tokenization endpoint "
    '(POST /v1/tokens) and send {"payment": {"token": "tok_..."}}'
)


def _refuse_card_data(data: Any) -> Any:
    if isinstance(data, dict) and "card" in data:
        raise ValueError(CARD_REFUSED)
    return data


class PaymentIn(RequestBody):
    """A payment token: the one the payments tokenization endpoint (`POST /v1/tokens`, standing in
    for a payment provider's browser SDK) gave for the card, or a reusable test token
    ("tok_test_visa", "tok_test_declined"). Card data is refused (400)."""

    token: StrictStr = Field(
        min_length=1,
        max_length=200,
        description="A single-use card token from the tokenization endpoint, or a test token",
        examples=["tok_test_visa"],
    )

    @model_validator(mode="before")
    @classmethod
    def _no_card_data(cls, data: Any) -> Any:
        return _refuse_card_data(data)


class AddressIn(RequestBody):
    name: StrictStr = Field(default="", max_length=200)
    line1: StrictStr = Field(min_length=1, max_length=200)
    line2: StrictStr = Field(default="", max_length=200)
    city: StrictStr = Field(min_length=1, max_length=100)
    region: StrictStr = Field(default="", max_length=100)
    postal_code: StrictStr = Field(default="", max_length=20)
    country: StrictStr = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. US")
    phone: StrictStr = Field(default="", max_length=40)


class Checkout(RequestBody):
    """How to check out the cart. Payment is by token only: a body with card data (`payment.card`
    or `card`) is refused with 400; the browser sends the card to the payments tokenization
    endpoint (`POST /v1/tokens`) and puts the token it gets in `payment.token`."""

    payment: PaymentIn | None = Field(
        default=None,
        description="A payment token (never card data); defaults to the test provider's approving token",
    )
    shipping_address: AddressIn | None = Field(
        default=None, description="Defaults to the customer's default address"
    )
    shipping_method: StrictStr | None = Field(
        default=None, max_length=64, description="A shipping method code; defaults to the cheapest"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_card_data(cls, data: Any) -> Any:
        return _refuse_card_data(data)


class OrderCreated(BaseModel):
    order_id: int
    message: str


class OrderItem(BaseModel):
    product_id: int
    quantity: int


class OrderDetails(BaseModel):
    order_id: int
    items: list[OrderItem]
    total: Amount


class OrderSummary(OrderDetails):
    status: str = Field(examples=["paid"])


class OrderList(BaseModel):
    orders: list[OrderSummary]
    next_page_token: str | None


ORDER_STATUSES = tuple(
    name.removeprefix(_STATUS_PREFIX).lower()
    for name, _ in orders_pb2.OrderStatus.items()
    if name != "ORDER_STATUS_UNSPECIFIED"
)


class OrderQuery(QueryParams):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)
    status: str | None = Field(
        default=None,
        description=f"Only orders in this status: one of {', '.join(ORDER_STATUSES)}",
        json_schema_extra={"enum": list(ORDER_STATUSES)},
    )

    @model_validator(mode="after")
    def _known_status(self) -> OrderQuery:
        if self.status is not None and self.status not in ORDER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ORDER_STATUSES)}")
        return self


def _items(order: orders_pb2.Order) -> list[OrderItem]:
    return [OrderItem(product_id=line.product_id, quantity=line.quantity) for line in order.lines]


def _status(order: orders_pb2.Order) -> str:
    return str(orders_pb2.OrderStatus.Name(order.status)).removeprefix(_STATUS_PREFIX).lower()


async def create_order(ctx: Ctx) -> OrderCreated:
    body = ctx.body(Checkout)
    key = ctx.request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"{IDEMPOTENCY_HEADER} must be at most {MAX_IDEMPOTENCY_KEY} characters")
    request = orders_pb2.CreateOrderRequest(idempotency_key=key)
    if body.payment is not None:
        request.payment_method.token = body.payment.token
    if body.shipping_address is not None:
        request.shipping_address.CopyFrom(common_pb2.Address(**body.shipping_address.model_dump()))
    request.shipping_method = (body.shipping_method or "").strip()
    reply = await ctx.upstreams.orders.CreateOrder(
        request, metadata=ctx.metadata, timeout=ctx.settings.checkout_timeout_seconds
    )
    for line in reply.order.lines:
        ctx.record(
            "order_placed",
            product_id=line.product_id,
            quantity=line.quantity,
            attributes={"order_id": str(reply.order.id)},
        )
    return OrderCreated(order_id=reply.order.id, message="Order created and payment processed")


async def list_orders(ctx: Ctx) -> OrderList:
    query = ctx.query(OrderQuery)
    reply = await ctx.upstreams.orders.ListOrders(
        orders_pb2.ListOrdersRequest(
            page_size=query.page_size,
            page_token=query.page_token,
            status=orders_pb2.OrderStatus.Value(_STATUS_PREFIX + query.status.upper())
            if query.status
            else orders_pb2.ORDER_STATUS_UNSPECIFIED,
        ),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return OrderList(
        orders=[
            OrderSummary(order_id=o.id, items=_items(o), total=money.from_proto(o.total), status=_status(o))
            for o in reply.orders
        ],
        next_page_token=reply.next_page_token or None,
    )


async def get_order(ctx: Ctx) -> OrderDetails:
    reply = await ctx.upstreams.orders.GetOrder(
        orders_pb2.GetOrderRequest(id=ctx.id("order_id")), metadata=ctx.metadata
    )
    order = reply.order
    return OrderDetails(order_id=order.id, items=_items(order), total=money.from_proto(order.total))


async def cancel_order(ctx: Ctx) -> Message:
    await ctx.upstreams.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(id=ctx.id("order_id"), reason="canceled through the API"),
        metadata=ctx.metadata,
    )
    return Message(message="Order canceled and refunded")


# --- the back office: one order in full, refunds, fulfilment ------------------------------------


class RefundIn(RequestBody):
    amount: Annotated[Price, Field(gt=0)] | None = Field(
        default=None, description="How much to give back; left out, everything not refunded yet"
    )
    reason: StrictStr = Field(default="", max_length=500)


class FulfilIn(RequestBody):
    status: Literal["fulfilled", "shipped"] = Field(
        description="fulfilled: packed; shipped: handed to the carrier (the shipment shows in transit)"
    )
    note: StrictStr = Field(default="", max_length=500)


class AdminOrderLine(BaseModel):
    product_id: int
    name: str
    quantity: int
    unit_price: Amount
    line_total: Amount


class AdminOrderEvent(BaseModel):
    status: str = Field(description="The status after the event")
    note: str
    actor: str
    at: datetime


class AdminOrder(BaseModel):
    order_id: int
    user_id: int
    status: str = Field(examples=["paid"])
    items: list[AdminOrderLine]
    subtotal: Amount
    shipping: Amount
    total: Amount
    shipping_method: str
    shipping_address: str = Field(description="One line; empty when the order has none")
    payment_id: str
    shipment_id: str = Field(description="Empty until the order has a shipment")
    events: list[AdminOrderEvent] = Field(description="Oldest first")
    created_at: datetime


class OrderRefund(BaseModel):
    order: AdminOrder
    refunded: Amount = Field(description="All refunded on the order's payment so far")
    fully_refunded: bool


def _address_line(address: common_pb2.Address) -> str:
    parts = [address.name, address.line1, address.line2, address.city, address.region, address.postal_code]
    text = ", ".join(p for p in parts if p)
    return f"{text}, {address.country}" if text else ""


def _admin_order(order: orders_pb2.Order) -> AdminOrder:
    return AdminOrder(
        order_id=order.id,
        user_id=order.user_id,
        status=_status(order),
        items=[
            AdminOrderLine(
                product_id=line.product_id,
                name=line.product_name,
                quantity=line.quantity,
                unit_price=money.from_proto(line.unit_price),
                line_total=money.from_proto(line.line_total),
            )
            for line in order.lines
        ],
        subtotal=money.from_proto(order.subtotal),
        shipping=money.from_proto(order.shipping),
        total=money.from_proto(order.total),
        shipping_method=order.shipping_method,
        shipping_address=_address_line(order.shipping_address),
        payment_id=order.payment_id,
        shipment_id=order.shipment_id,
        events=[
            AdminOrderEvent(
                status=str(orders_pb2.OrderStatus.Name(e.to_status)).removeprefix(_STATUS_PREFIX).lower(),
                note=e.note,
                actor=e.actor,
                at=e.create_time.ToDatetime(UTC),
            )
            for e in order.events
        ],
        created_at=order.create_time.ToDatetime(UTC),
    )


async def admin_get_order(ctx: Ctx) -> AdminOrder:
    reply = await ctx.upstreams.orders.GetOrder(
        orders_pb2.GetOrderRequest(id=ctx.id("order_id")), metadata=ctx.metadata
    )
    return _admin_order(reply.order)


async def refund_order(ctx: Ctx) -> OrderRefund:
    body = ctx.body(RefundIn)
    key = ctx.request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"{IDEMPOTENCY_HEADER} must be at most {MAX_IDEMPOTENCY_KEY} characters")
    request = orders_pb2.RefundOrderRequest(id=ctx.id("order_id"), idempotency_key=key, reason=body.reason)
    if body.amount is not None:
        request.amount.CopyFrom(money.to_proto(body.amount, ctx.settings.currency))
    reply = await ctx.upstreams.orders.RefundOrder(request, metadata=ctx.metadata)
    return OrderRefund(
        order=_admin_order(reply.order),
        refunded=money.from_proto(reply.refunded),
        fully_refunded=reply.refunded.amount_minor >= reply.order.total.amount_minor,
    )


async def fulfil_order(ctx: Ctx) -> AdminOrder:
    body = ctx.body(FulfilIn)
    reply = await ctx.upstreams.orders.FulfilOrder(
        orders_pb2.FulfilOrderRequest(
            id=ctx.id("order_id"),
            status=orders_pb2.OrderStatus.Value(_STATUS_PREFIX + body.status.upper()),
            note=body.note,
        ),
        metadata=ctx.metadata,
    )
    return _admin_order(reply.order)


ADMIN_TAGS = ("orders admin",)
TAGS = ("orders",)
ROUTES = [
    Route(
        "POST",
        "/orders/",
        create_order,
        "Check out the cart: create the order and pay for it",
        TAGS,
        auth="user",
        request=Checkout,
        request_optional=True,
        response=OrderCreated,
        status=201,
        errors=(409,),
        headers=(HeaderParam(IDEMPOTENCY_HEADER, "Retrying with the same key returns the same order"),),
    ),
    Route(
        "GET",
        "/orders/",
        list_orders,
        "The caller's orders, newest first (an admin sees everyone's); ?status= filters",
        TAGS,
        auth="user",
        response=OrderList,
        query=OrderQuery,
        paged=True,
    ),
    Route("GET", "/orders/{order_id}", get_order, "One order", TAGS, auth="user", response=OrderDetails),
    Route(
        "POST",
        "/orders/{order_id}/cancel",
        cancel_order,
        "Cancel an order and refund its payment",
        TAGS,
        auth="user",
        response=Message,
        errors=(409,),
    ),
    Route(
        "GET",
        "/admin/orders/{order_id}",
        admin_get_order,
        "One order in full: lines, totals, address, shipment and its history",
        ADMIN_TAGS,
        auth="admin",
        response=AdminOrder,
    ),
    Route(
        "POST",
        "/admin/orders/{order_id}/refund",
        refund_order,
        "Refund all of a paid order (it becomes refunded; goods that never left go back in stock) "
        "or a part (the status stays; noted in its history). 409 when more is asked than is left",
        ADMIN_TAGS,
        auth="admin",
        request=RefundIn,
        request_optional=True,
        response=OrderRefund,
        errors=(409,),
        headers=(
            HeaderParam(
                IDEMPOTENCY_HEADER,
                "Retrying with the same key answers the same refund; needed for a partial refund",
            ),
        ),
    ),
    Route(
        "POST",
        "/admin/orders/{order_id}/fulfilment",
        fulfil_order,
        "Mark a paid order fulfilled (packed) or shipped (its shipment, created if missing, goes "
        "in transit); asking again answers the order as it is",
        ADMIN_TAGS,
        auth="admin",
        request=FulfilIn,
        response=AdminOrder,
        errors=(409,),
    ),
]
