"""/api/shipping: quotes and methods (public), order tracking (owner or admin), carrier webhooks
(signed; verified by the shipping service), and the admin's zones and tracking events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictStr

from gateway import money
from gateway.errors import ApiError
from gateway.models import COUNTRY_PATTERN, Amount, Id, Message, Price, QueryParams, RequestBody
from gateway.routing import Ctx, HeaderParam, Route
from services.kit import timestamps
from shop.common.v1 import common_pb2
from shop.shipping.v1 import shipping_pb2

SIGNATURE_HEADER = "X-Shop-Signature"
TIMESTAMP_HEADER = "X-Shop-Timestamp"
MAX_TEXT = 200
MAX_ITEMS = 500
MAX_ZONE_ENTRIES = 300
_STATUS_PREFIX = "SHIPMENT_STATUS_"

ShipmentStatus = Literal["label_created", "in_transit", "out_for_delivery", "delivered", "exception"]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]


class AddressIn(RequestBody):
    name: Text = ""
    line1: Text = ""
    line2: Text = ""
    city: Text = ""
    region: Text = Field(default="", description="State or province, e.g. NY")
    postal_code: Text = ""
    country: StrictStr = Field(
        min_length=2, max_length=2, pattern=COUNTRY_PATTERN, description="ISO 3166-1 alpha-2, e.g. US"
    )


class QuoteItem(RequestBody):
    product_id: Id
    quantity: int = Field(ge=1, le=1_000_000)


class QuoteRequest(RequestBody):
    address: AddressIn
    items: list[QuoteItem] = Field(default_factory=list, max_length=MAX_ITEMS)


class ShippingOption(BaseModel):
    method: str = Field(examples=["standard"])
    carrier: str = Field(examples=["ups"])
    cost: Amount
    estimated_days_min: int
    estimated_days_max: int


class Quote(BaseModel):
    options: list[ShippingOption] = Field(description="Cheapest first; empty when nothing ships there")


class ShippingMethod(BaseModel):
    code: str = Field(examples=["standard"])
    name: str = Field(examples=["Standard"])
    carrier: str = Field(examples=["ups"])


class MethodList(BaseModel):
    methods: list[ShippingMethod]


class TrackingEvent(BaseModel):
    status: str = Field(examples=["in_transit"])
    location: str
    message: str
    occurred_at: datetime


class Tracking(BaseModel):
    shipment_id: int
    order_id: int
    method: str
    carrier: str
    tracking_number: str
    status: str = Field(examples=["in_transit"])
    events: list[TrackingEvent] = Field(description="Oldest first")


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else timestamps.to_utc(value)


class NewTrackingEvent(RequestBody):
    status: ShipmentStatus
    location: Text = ""
    message: StrictStr = Field(default="", max_length=500)
    # In UTC on the way in: an offset that leaves years 1-9999 is a 400, not an overflow later.
    occurred_at: Annotated[datetime | None, Field(strict=False), AfterValidator(_utc_or_none)] = Field(
        default=None, description="When it happened at the carrier (RFC 3339); defaults to now"
    )


class RateIn(RequestBody):
    method: StrictStr = Field(min_length=1, max_length=40, examples=["standard"])
    base_cost: Price
    per_kg_cost: Price = Field(default=0.0, description="Added per started kilogram")
    free_over: Price | None = Field(default=None, description="Orders worth at least this ship free")
    min_days: int = Field(ge=0, le=365)
    max_days: int = Field(ge=0, le=365)


class ZoneIn(RequestBody):
    name: StrictStr = Field(min_length=1, max_length=MAX_TEXT)
    countries: list[Annotated[StrictStr, Field(pattern=COUNTRY_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_ZONE_ENTRIES, description="Empty: every country"
    )
    regions: list[StrictStr] = Field(default_factory=list, max_length=MAX_ZONE_ENTRIES)
    postcode_prefixes: list[StrictStr] = Field(default_factory=list, max_length=MAX_ZONE_ENTRIES)
    rates: list[RateIn] = Field(default_factory=list, max_length=10)


class RateOut(BaseModel):
    method: str
    base_cost: Amount
    per_kg_cost: Amount
    free_over: Amount | None
    min_days: int
    max_days: int


class Zone(BaseModel):
    id: int
    name: str
    countries: list[str]
    regions: list[str]
    postcode_prefixes: list[str]
    rates: list[RateOut]


class ZoneList(BaseModel):
    zones: list[Zone]
    next_page_token: str | None


class ZoneQuery(QueryParams):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)


def _status(value: int) -> str:
    return str(shipping_pb2.ShipmentStatus.Name(value)).removeprefix(_STATUS_PREFIX).lower()  # type: ignore[arg-type]


def _tracking(shipment: shipping_pb2.Shipment) -> Tracking:
    return Tracking(
        shipment_id=int(shipment.id),
        order_id=shipment.order_id,
        method=shipment.method,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=_status(shipment.status),
        events=[
            TrackingEvent(
                status=_status(e.status),
                location=e.location,
                message=e.message,
                occurred_at=e.event_time.ToDatetime(UTC),
            )
            for e in shipment.events
        ],
    )


def _zone(zone: shipping_pb2.Zone) -> Zone:
    return Zone(
        id=zone.id,
        name=zone.name,
        countries=list(zone.countries),
        regions=list(zone.regions),
        postcode_prefixes=list(zone.postcode_prefixes),
        rates=[
            RateOut(
                method=r.method,
                base_cost=money.from_proto(r.base_cost),
                per_kg_cost=money.from_proto(r.per_kg_cost),
                free_over=money.from_proto(r.free_over) if r.HasField("free_over") else None,
                min_days=r.min_days,
                max_days=r.max_days,
            )
            for r in zone.rates
        ],
    )


def _zone_proto(body: ZoneIn, zone_id: int, currency: str) -> shipping_pb2.Zone:
    rates = []
    for r in body.rates:
        rate = shipping_pb2.Rate(
            method=r.method,
            base_cost=money.to_proto(r.base_cost, currency),
            per_kg_cost=money.to_proto(r.per_kg_cost, currency),
            min_days=r.min_days,
            max_days=r.max_days,
        )
        if r.free_over is not None:
            rate.free_over.CopyFrom(money.to_proto(r.free_over, currency))
        rates.append(rate)
    return shipping_pb2.Zone(
        id=zone_id,
        name=body.name,
        countries=body.countries,
        regions=body.regions,
        postcode_prefixes=body.postcode_prefixes,
        rates=rates,
    )


async def quote(ctx: Ctx) -> Quote:
    body = ctx.body(QuoteRequest)
    address = common_pb2.Address(**body.address.model_dump())
    # Only product ids and quantities: the shipping service reads weights and prices from the catalog.
    lines = [shipping_pb2.QuoteLine(product_id=i.product_id, quantity=i.quantity) for i in body.items]
    reply = await ctx.upstreams.shipping.QuoteShipping(
        shipping_pb2.QuoteShippingRequest(address=address, lines=lines), metadata=ctx.metadata
    )
    return Quote(
        options=[
            ShippingOption(
                method=o.method,
                carrier=o.carrier,
                cost=money.from_proto(o.cost),
                estimated_days_min=o.estimated_days_min,
                estimated_days_max=o.estimated_days_max,
            )
            for o in reply.options
        ]
    )


async def list_methods(ctx: Ctx) -> MethodList:
    reply = await ctx.upstreams.shipping.ListShippingMethods(
        shipping_pb2.ListShippingMethodsRequest(page_size=500), metadata=ctx.metadata
    )
    return MethodList(
        methods=[ShippingMethod(code=m.code, name=m.display_name, carrier=m.carrier) for m in reply.methods]
    )


async def order_tracking(ctx: Ctx) -> Tracking:
    order_id = ctx.id("order_id")
    # Customers only ever list their own shipments: someone else's order looks like no shipment.
    reply = await ctx.upstreams.shipping.ListShipments(
        shipping_pb2.ListShipmentsRequest(order_id=order_id, page_size=1), metadata=ctx.metadata
    )
    if not reply.shipments:
        raise ApiError(404, f"No shipment for order {order_id}")
    return _tracking(reply.shipments[0])


class ShipmentQuery(ZoneQuery):
    """A page of shipments, newest first."""


class ShipmentList(BaseModel):
    shipments: list[Tracking] = Field(description="Newest first")
    next_page_token: str | None


async def list_shipments(ctx: Ctx) -> ShipmentList:
    query = ctx.query(ShipmentQuery)
    reply = await ctx.upstreams.shipping.ListShipments(
        shipping_pb2.ListShipmentsRequest(page_size=query.page_size, page_token=query.page_token),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return ShipmentList(
        shipments=[_tracking(s) for s in reply.shipments], next_page_token=reply.next_page_token or None
    )


async def carrier_webhook(ctx: Ctx) -> Message:
    # The raw body and its signature go to shipping untouched: the HMAC covers the exact bytes.
    payload = await ctx.request.read()
    await ctx.upstreams.shipping.HandleCarrierWebhook(
        shipping_pb2.HandleCarrierWebhookRequest(
            carrier=ctx.slug(),
            payload=payload,
            signature=ctx.request.headers.get(SIGNATURE_HEADER, ""),
            timestamp=ctx.request.headers.get(TIMESTAMP_HEADER, ""),
        ),
        metadata=ctx.metadata,
    )
    return Message(message="Tracking event recorded")


async def add_tracking_event(ctx: Ctx) -> Tracking:
    body = ctx.body(NewTrackingEvent)
    event = shipping_pb2.TrackingEvent(
        status=shipping_pb2.ShipmentStatus.Value(_STATUS_PREFIX + body.status.upper()),
        location=body.location,
        message=body.message,
    )
    if body.occurred_at is not None:
        event.event_time.FromDatetime(body.occurred_at)
    reply = await ctx.upstreams.shipping.AddTrackingEvent(
        shipping_pb2.AddTrackingEventRequest(shipment_id=str(ctx.id("id")), event=event),
        metadata=ctx.metadata,
    )
    return _tracking(reply.shipment)


async def list_zones(ctx: Ctx) -> ZoneList:
    query = ctx.query(ZoneQuery)
    reply = await ctx.upstreams.shipping.ListZones(
        shipping_pb2.ListZonesRequest(page_size=query.page_size, page_token=query.page_token),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return ZoneList(zones=[_zone(z) for z in reply.zones], next_page_token=reply.next_page_token or None)


async def create_zone(ctx: Ctx) -> Zone:
    zone = _zone_proto(ctx.body(ZoneIn), 0, ctx.settings.currency)
    reply = await ctx.upstreams.shipping.UpsertZone(
        shipping_pb2.UpsertZoneRequest(zone=zone), metadata=ctx.metadata
    )
    return _zone(reply.zone)


async def replace_zone(ctx: Ctx) -> Zone:
    zone = _zone_proto(ctx.body(ZoneIn), ctx.id("id"), ctx.settings.currency)
    reply = await ctx.upstreams.shipping.UpsertZone(
        shipping_pb2.UpsertZoneRequest(zone=zone), metadata=ctx.metadata
    )
    return _zone(reply.zone)


async def delete_zone(ctx: Ctx) -> Message:
    await ctx.upstreams.shipping.DeleteZone(
        shipping_pb2.DeleteZoneRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Message(message="Zone deleted")


TAGS = ("shipping",)
ADMIN = ("shipping admin",)
ROUTES = [
    Route(
        "POST",
        "/shipping/quote",
        quote,
        "Shipping options and costs for an address and cart items, cheapest first",
        TAGS,
        request=QuoteRequest,
        response=Quote,
        errors=(409,),
    ),
    Route("GET", "/shipping/methods/", list_methods, "The shipping methods", TAGS, response=MethodList),
    Route(
        "GET",
        "/orders/{order_id}/tracking",
        order_tracking,
        "An order's shipment and its tracking timeline (the order's owner or an admin)",
        TAGS,
        auth="user",
        response=Tracking,
    ),
    Route(
        "POST",
        "/shipping/webhooks/{slug}",
        carrier_webhook,
        "A carrier's tracking update ({slug} is the carrier, e.g. ups); signed with X-Shop-Signature: "
        'hex HMAC-SHA256 of "<X-Shop-Timestamp>.<raw body>"; refused (401) when the timestamp is over '
        "5 minutes off, and (409) when the same signature comes again",
        TAGS,
        response=Message,
        errors=(400, 401, 409),
        headers=(
            HeaderParam(
                SIGNATURE_HEADER,
                'Hex HMAC-SHA256 of "<X-Shop-Timestamp>.<raw body>" with the webhook secret',
            ),
            HeaderParam(TIMESTAMP_HEADER, "When the carrier signed it, in Unix seconds"),
        ),
    ),
    Route(
        "GET",
        "/admin/shipping/zones/",
        list_zones,
        "The shipping zones and their rates",
        ADMIN,
        auth="admin",
        response=ZoneList,
        query=ZoneQuery,
        paged=True,
    ),
    Route(
        "POST",
        "/admin/shipping/zones/",
        create_zone,
        "Add a shipping zone",
        ADMIN,
        auth="admin",
        request=ZoneIn,
        response=Zone,
        status=201,
    ),
    Route(
        "PUT",
        "/admin/shipping/zones/{id}",
        replace_zone,
        "Replace a shipping zone whole",
        ADMIN,
        auth="admin",
        request=ZoneIn,
        response=Zone,
    ),
    Route(
        "DELETE",
        "/admin/shipping/zones/{id}",
        delete_zone,
        "Delete a shipping zone",
        ADMIN,
        auth="admin",
        response=Message,
    ),
    Route(
        "GET",
        "/admin/shipments/",
        list_shipments,
        "Every order's shipment with its tracking timeline",
        ADMIN,
        auth="admin",
        response=ShipmentList,
        query=ShipmentQuery,
        paged=True,
    ),
    Route(
        "POST",
        "/admin/shipments/{id}/events",
        add_tracking_event,
        "Advance a shipment's tracking timeline",
        ADMIN,
        auth="admin",
        request=NewTrackingEvent,
        response=Tracking,
        status=201,
        errors=(409,),
    ),
]
