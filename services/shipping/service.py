"""The shipping gRPC servicer: quotes from the zone rate table, shipments and their tracking
timelines, carrier webhooks, and zone administration."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from pydantic import Field, SecretStr

from services.kit import jsontext, money, paging, principal, timestamps
from services.kit.clients import unreachable
from services.kit.config import ServiceSettings
from services.kit.errors import CommonError, DomainError, invalid
from services.kit.principal import Principal
from services.kit.server import Registration, Runtime
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.orders.v1 import orders_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc

from . import domain
from .domain import METHODS, METHODS_BY_CODE, ShippingError, Status
from .store import EventRow, NewEvent, ShipmentView, ShippingStore, Target, ZoneRow, rate_from_json
from .sync import OrderSync
from .webhooks import WebhookVerifier

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_LINES = 500
MAX_NAME = 200
MAX_ADDRESS_FIELD = 200
MAX_LOCATION = 200
MAX_MESSAGE = 500
MAX_ZONE_ENTRIES = 300
MAX_POSTCODE_PREFIX = 20
MAX_WEBHOOK_BYTES = 64 * 1024
DEFAULT_METHOD = "standard"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CARRIER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TRACKING = re.compile(r"^[A-Z0-9]{1,40}$")


class Settings(ServiceSettings):
    # SHOP_CARRIER_WEBHOOK_SECRET: the key carriers sign webhooks with; unset refuses webhooks.
    carrier_webhook_secret: SecretStr | None = None
    # How often pending order updates are retried from the background, at the earliest.
    order_sync_interval_seconds: float = Field(default=5.0, gt=0)
    # The first retry delay of a failed order update; it doubles each time (up to 5 minutes).
    order_sync_retry_seconds: float = Field(default=2.0, gt=0)


# --- messages ----------------------------------------------------------------------------------


def _status_to_proto(status: str) -> shipping_pb2.ShipmentStatus.ValueType:
    return shipping_pb2.ShipmentStatus.Value(f"SHIPMENT_STATUS_{status.upper()}")


def _status_from_proto(value: int) -> Status:
    if value == shipping_pb2.SHIPMENT_STATUS_UNSPECIFIED:
        raise invalid("event.status is required")
    try:
        name = shipping_pb2.ShipmentStatus.Name(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise invalid(f"unknown shipment status {value}") from exc
    return Status(name.removeprefix("SHIPMENT_STATUS_").lower())


def _event_to_proto(row: EventRow) -> shipping_pb2.TrackingEvent:
    return shipping_pb2.TrackingEvent(
        status=_status_to_proto(row.status),
        location=row.location,
        message=row.message,
        event_time=timestamps.to_proto(row.event_time),
    )


def _shipment_to_proto(view: ShipmentView) -> shipping_pb2.Shipment:
    row = view.shipment
    return shipping_pb2.Shipment(
        id=str(row.id),
        order_id=row.order_id,
        user_id=row.user_id,
        address=json_format.ParseDict(row.address, common_pb2.Address(), ignore_unknown_fields=True),
        method=row.method,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        status=_status_to_proto(row.status),
        events=[_event_to_proto(e) for e in view.events],
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def _zone_to_proto(row: ZoneRow) -> shipping_pb2.Zone:
    rates = []
    for data in row.rates:
        rate = rate_from_json(data)
        message = shipping_pb2.Rate(
            method=rate.method,
            base_cost=money.of(rate.base_minor, rate.currency),
            per_kg_cost=money.of(rate.per_kg_minor, rate.currency),
            min_days=rate.min_days,
            max_days=rate.max_days,
        )
        if rate.free_over_minor is not None:
            message.free_over.CopyFrom(money.of(rate.free_over_minor, rate.currency))
        rates.append(message)
    return shipping_pb2.Zone(
        id=row.id,
        name=row.name,
        countries=row.countries,
        regions=row.regions,
        postcode_prefixes=row.postcode_prefixes,
        rates=rates,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


# --- validation --------------------------------------------------------------------------------


def _country(value: str, field: str) -> str:
    country = domain.normalize_country(value)
    if not _COUNTRY.match(country):
        raise invalid(f"{field} must be an ISO 3166-1 alpha-2 code such as US")
    return country


def _address(address: common_pb2.Address, field: str) -> common_pb2.Address:
    for name in ("name", "line1", "line2", "city", "region", "postal_code", "phone"):
        if len(getattr(address, name)) > MAX_ADDRESS_FIELD:
            raise invalid(f"{field}.{name} must be at most {MAX_ADDRESS_FIELD} characters")
    checked = common_pb2.Address()
    checked.CopyFrom(address)
    checked.country = _country(address.country, f"{field}.country")
    return checked


def _destination(address: common_pb2.Address) -> domain.Destination:
    return domain.Destination(address.country, address.region, address.postal_code)


def _text(value: str, field: str, limit: int) -> str:
    text = value.strip()
    if len(text) > limit:
        raise invalid(f"{field} must be at most {limit} characters")
    return text


def _method(code: str) -> domain.Method:
    method = METHODS_BY_CODE.get(code.strip().lower())
    if method is None:
        raise invalid(f"unknown shipping method {code!r}; one of {', '.join(METHODS_BY_CODE)}")
    return method


def _entries(values: Sequence[str], field: str) -> None:
    if len(values) > MAX_ZONE_ENTRIES:
        raise invalid(f"{field} may list at most {MAX_ZONE_ENTRIES} entries")


def _rate(rate: shipping_pb2.Rate, field: str) -> domain.Rate:
    method = _method(rate.method)
    if not rate.HasField("base_cost"):
        raise invalid(f"{field}.base_cost is required")
    base = money.validated(rate.base_cost, f"{field}.base_cost")
    per_kg = (
        money.validated(rate.per_kg_cost, f"{field}.per_kg_cost") if rate.HasField("per_kg_cost") else None
    )
    free = money.validated(rate.free_over, f"{field}.free_over") if rate.HasField("free_over") else None
    for other, name in ((per_kg, "per_kg_cost"), (free, "free_over")):
        if other is not None and other.currency != base.currency:
            raise invalid(f"{field}.{name} must be in the currency of base_cost ({base.currency})")
    if not 0 <= rate.min_days <= rate.max_days <= domain.MAX_DAYS:
        raise invalid(f"{field}: need 0 <= min_days <= max_days <= {domain.MAX_DAYS}")
    return domain.Rate(
        method=method.code,
        currency=base.currency,
        base_minor=base.amount_minor,
        per_kg_minor=per_kg.amount_minor if per_kg else 0,
        free_over_minor=free.amount_minor if free else None,
        min_days=rate.min_days,
        max_days=rate.max_days,
    )


def _zone(zone: shipping_pb2.Zone) -> domain.Zone:
    name = zone.name.strip()
    if not name:
        raise invalid("zone.name must not be empty")
    if len(name) > MAX_NAME:
        raise invalid(f"zone.name must be at most {MAX_NAME} characters")
    if zone.id < 0:
        raise invalid("zone.id must not be negative")
    for values, field in (
        (zone.countries, "zone.countries"),
        (zone.regions, "zone.regions"),
        (zone.postcode_prefixes, "zone.postcode_prefixes"),
    ):
        _entries(values, field)
    countries = tuple(dict.fromkeys(_country(c, "zone.countries") for c in zone.countries))
    regions = tuple(dict.fromkeys(_text(r, "zone.regions", MAX_ADDRESS_FIELD) for r in zone.regions))
    prefixes = tuple(dict.fromkeys(domain.normalize_postcode(p) for p in zone.postcode_prefixes))
    if any(not r for r in regions) or any(not p for p in prefixes):
        raise invalid("zone.regions and zone.postcode_prefixes must not hold empty entries")
    if any(len(p) > MAX_POSTCODE_PREFIX for p in prefixes):
        raise invalid(f"zone.postcode_prefixes must be at most {MAX_POSTCODE_PREFIX} characters")
    if (regions or prefixes) and not countries:
        raise invalid("a zone with regions or postcode prefixes must list its countries")
    rates = tuple(_rate(r, f"zone.rates[{i}]") for i, r in enumerate(zone.rates))
    methods = [r.method for r in rates]
    if len(set(methods)) != len(methods):
        raise invalid("zone.rates may hold each method once")
    return domain.Zone(zone.id, name, countries, regions, prefixes, rates)


def _event(event: shipping_pb2.TrackingEvent) -> NewEvent:
    return NewEvent(
        status=_status_from_proto(event.status),
        location=_text(event.location, "event.location", MAX_LOCATION),
        message=_text(event.message, "event.message", MAX_MESSAGE),
        event_time=timestamps.from_proto(event.event_time, "event.event_time")
        if event.HasField("event_time")
        else timestamps.now(),
    )


def _shipment_id(value: str) -> int | None:
    """Shipment ids are decimal numbers in a string; anything else names no shipment."""
    text = value.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _may_see(caller: Principal, view: ShipmentView) -> bool:
    return caller.is_admin or caller.is_service or view.shipment.user_id == caller.user_id


def _webhook_event(payload: bytes) -> tuple[str, NewEvent]:
    """(tracking number, event) from a carrier's JSON body."""
    try:
        data: Any = jsontext.loads(payload)
    except ValueError as exc:
        raise invalid("the webhook body is not JSON") from exc
    if not isinstance(data, dict):
        raise invalid("the webhook body must be a JSON object")

    def text(key: str, required: bool = False) -> str:
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise invalid(f"{key} must be a{' non-empty' if required else ''} string")
        return value

    tracking = text("tracking_number", required=True).strip().upper()
    if not _TRACKING.match(tracking):
        raise invalid("tracking_number is not a tracking number")
    try:
        status = Status(text("status", required=True).strip().lower())
    except ValueError as exc:
        raise invalid(f"status must be one of {', '.join(s.value for s in Status)}") from exc
    occurred = text("occurred_at")
    when = timestamps.now()
    if occurred:
        try:
            when = timestamps.to_utc(datetime.fromisoformat(occurred.replace("Z", "+00:00")))
        except ValueError as exc:
            raise invalid("occurred_at must be an RFC 3339 time such as 2026-11-25T10:00:00Z") from exc
    return tracking, NewEvent(
        status=status,
        location=_text(text("location"), "location", MAX_LOCATION),
        message=_text(text("message"), "message", MAX_MESSAGE),
        event_time=when,
    )


# --- the servicer ------------------------------------------------------------------------------


class ShippingServicer(shipping_pb2_grpc.ShippingServiceServicer):
    def __init__(
        self,
        store: ShippingStore,
        catalog: catalog_pb2_grpc.CatalogServiceStub,
        sync: OrderSync,
        webhooks: WebhookVerifier | None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._sync = sync
        self._webhooks = webhooks

    async def _products(self, ids: list[int]) -> dict[int, catalog_pb2.Product]:
        if not ids:
            return {}
        try:
            reply = await self._catalog.BatchGetProducts(catalog_pb2.BatchGetProductsRequest(ids=ids))
        except grpc.aio.AioRpcError as exc:
            if unreachable(exc):
                raise DomainError(CommonError.DEPENDENCY_UNAVAILABLE, "the catalog is unavailable") from exc
            raise
        return {p.id: p for p in reply.products}

    async def _lines(self, lines: Sequence[shipping_pb2.QuoteLine]) -> tuple[list[domain.Line], str | None]:
        if len(lines) > MAX_LINES:
            raise invalid(f"at most {MAX_LINES} lines per quote")
        for i, line in enumerate(lines):
            if line.product_id <= 0:
                raise invalid(f"lines[{i}].product_id is required")
            if not 1 <= line.quantity <= domain.MAX_QUANTITY:
                raise invalid(f"lines[{i}].quantity must be between 1 and {domain.MAX_QUANTITY}")
            if not 0 <= line.weight_grams <= domain.MAX_WEIGHT_GRAMS:
                raise invalid(f"lines[{i}].weight_grams must be between 0 and {domain.MAX_WEIGHT_GRAMS}")
            if line.HasField("unit_price"):
                money.validated(line.unit_price, f"lines[{i}].unit_price")
        missing = [
            line.product_id for line in lines if not line.weight_grams or not line.HasField("unit_price")
        ]
        products = await self._products(list(dict.fromkeys(missing)))
        resolved: list[domain.Line] = []
        currencies: set[str] = set()
        for line in lines:
            product = products.get(line.product_id)
            if product is None and line.product_id in missing:
                raise DomainError(
                    ShippingError.PRODUCT_UNAVAILABLE, f"product {line.product_id} is not in the catalog"
                )
            price = line.unit_price if line.HasField("unit_price") or product is None else product.price
            weight = line.weight_grams or (product.weight_grams if product is not None else 0)
            currencies.add(price.currency)
            resolved.append(domain.Line(line.product_id, line.quantity, weight, price.amount_minor))
        if len(currencies) > 1:
            raise DomainError(ShippingError.MIXED_CURRENCIES, f"lines mix {', '.join(sorted(currencies))}")
        return resolved, next(iter(currencies), None)

    async def QuoteShipping(
        self, request: shipping_pb2.QuoteShippingRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.QuoteShippingResponse:
        if not request.HasField("address"):
            raise invalid("address is required")
        address = _address(request.address, "address")
        lines, currency = await self._lines(request.lines)
        options = domain.quote(
            await self._store.all_zones(), _destination(address), domain.parcel(lines, currency)
        )
        return shipping_pb2.QuoteShippingResponse(
            options=[
                shipping_pb2.ShippingOption(
                    method=o.method,
                    carrier=o.carrier,
                    cost=money.of(o.cost_minor, o.currency),
                    estimated_days_min=o.min_days,
                    estimated_days_max=o.max_days,
                )
                for o in options
            ]
        )

    async def ListShippingMethods(
        self, request: shipping_pb2.ListShippingMethodsRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.ListShippingMethodsResponse:
        size = paging.page_size(request.page_size)
        start = paging.decode_int(request.page_token) or 0
        if start < 0:
            raise DomainError(CommonError.INVALID_PAGE_TOKEN)
        page = METHODS[start : start + size]
        more = start + size < len(METHODS)
        return shipping_pb2.ListShippingMethodsResponse(
            methods=[
                shipping_pb2.ShippingMethod(code=m.code, display_name=m.display_name, carrier=m.carrier)
                for m in page
            ],
            next_page_token=paging.encode(start + size) if more else "",
        )

    async def CreateShipment(
        self, request: shipping_pb2.CreateShipmentRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.CreateShipmentResponse:
        principal.require_service()
        if request.order_id <= 0:
            raise invalid("order_id is required")
        if request.user_id <= 0:
            raise invalid("user_id is required")
        if not request.HasField("address"):
            raise invalid("address is required")
        address = _address(request.address, "address")
        method = _method(request.method or DEFAULT_METHOD)
        view, _ = await self._store.create_shipment(
            request.order_id,
            request.user_id,
            json_format.MessageToDict(address, preserving_proto_field_name=True),
            method.code,
            method.carrier,
        )
        return shipping_pb2.CreateShipmentResponse(shipment=_shipment_to_proto(view))

    async def GetShipment(
        self, request: shipping_pb2.GetShipmentRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.GetShipmentResponse:
        caller = principal.require_authenticated()
        shipment_id = _shipment_id(request.id)
        view = await self._store.get(Target(shipment_id=shipment_id)) if shipment_id else None
        if view is None or not _may_see(caller, view):
            raise DomainError(ShippingError.SHIPMENT_NOT_FOUND, f"shipment {request.id} not found")
        return shipping_pb2.GetShipmentResponse(shipment=_shipment_to_proto(view))

    async def ListShipments(
        self, request: shipping_pb2.ListShipmentsRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.ListShipmentsResponse:
        caller = principal.require_authenticated()
        if request.user_id < 0 or request.order_id < 0:
            raise invalid("user_id and order_id must not be negative")
        user_id: int | None = caller.user_id
        if caller.is_admin or caller.is_service:
            user_id = request.user_id or None
        size = paging.page_size(request.page_size)
        views = await self._store.page(
            user_id, request.order_id or None, size + 1, paging.decode_int(request.page_token)
        )
        views, token = paging.split(views, size, lambda v: paging.encode(v.shipment.id))
        return shipping_pb2.ListShipmentsResponse(
            shipments=[_shipment_to_proto(v) for v in views], next_page_token=token
        )

    async def _record(self, target: Target, event: NewEvent, name: str) -> shipping_pb2.Shipment:
        view = await self._store.add_event(target, event)
        if view is None:
            raise DomainError(ShippingError.SHIPMENT_NOT_FOUND, f"shipment {name} not found")
        if domain.order_target(Status(view.shipment.status)) is not None:
            # Tell orders now; if that fails, the background loop keeps trying.
            await self._sync.settle_soon(view.shipment.order_id)
        return _shipment_to_proto(view)

    async def AddTrackingEvent(
        self, request: shipping_pb2.AddTrackingEventRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.AddTrackingEventResponse:
        principal.require_admin_or_service()
        which = request.WhichOneof("target")
        if which == "shipment_id":
            target, name = Target(shipment_id=_shipment_id(request.shipment_id) or -1), request.shipment_id
        elif which == "tracking_number":
            target, name = (
                Target(tracking_number=request.tracking_number.strip().upper()),
                request.tracking_number,
            )
        else:
            raise invalid("shipment_id or tracking_number is required")
        if not request.HasField("event"):
            raise invalid("event is required")
        shipment = await self._record(target, _event(request.event), name)
        return shipping_pb2.AddTrackingEventResponse(shipment=shipment)

    async def HandleCarrierWebhook(
        self, request: shipping_pb2.HandleCarrierWebhookRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.HandleCarrierWebhookResponse:
        if self._webhooks is None:
            raise DomainError(ShippingError.WEBHOOKS_DISABLED)
        if len(request.payload) > MAX_WEBHOOK_BYTES:
            raise invalid(f"the webhook body must be at most {MAX_WEBHOOK_BYTES} bytes")
        await self._webhooks.verify(request.payload, request.signature, request.timestamp)
        carrier = request.carrier.strip().lower()
        if not _CARRIER.match(carrier):
            raise invalid("carrier is not a carrier name")
        tracking, event = _webhook_event(request.payload)
        shipment = await self._record(Target(tracking_number=tracking, carrier=carrier), event, tracking)
        return shipping_pb2.HandleCarrierWebhookResponse(shipment=shipment)

    async def AnonymizeUserShipments(
        self, request: shipping_pb2.AnonymizeUserShipmentsRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.AnonymizeUserShipmentsResponse:
        principal.require_service_for(request.user_id)
        return shipping_pb2.AnonymizeUserShipmentsResponse(
            shipments_updated=await self._store.anonymize_user(request.user_id)
        )

    async def ListZones(
        self, request: shipping_pb2.ListZonesRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.ListZonesResponse:
        principal.require_admin()
        size = paging.page_size(request.page_size)
        rows = await self._store.zones_page(size + 1, paging.decode_int(request.page_token))
        rows, token = paging.split(rows, size, lambda r: paging.encode(r.id))
        return shipping_pb2.ListZonesResponse(zones=[_zone_to_proto(r) for r in rows], next_page_token=token)

    async def UpsertZone(
        self, request: shipping_pb2.UpsertZoneRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.UpsertZoneResponse:
        principal.require_admin()
        if not request.HasField("zone"):
            raise invalid("zone is required")
        result = await self._store.upsert_zone(_zone(request.zone))
        if result is None:
            raise DomainError(ShippingError.ZONE_NOT_FOUND, f"zone {request.zone.id} not found")
        row, created = result
        return shipping_pb2.UpsertZoneResponse(zone=_zone_to_proto(row), created=created)

    async def DeleteZone(
        self, request: shipping_pb2.DeleteZoneRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.DeleteZoneResponse:
        principal.require_admin()
        if not await self._store.delete_zone(request.id):
            raise DomainError(ShippingError.ZONE_NOT_FOUND, f"zone {request.id} not found")
        return shipping_pb2.DeleteZoneResponse()


async def build(runtime: Runtime) -> Sequence[Registration]:
    settings = runtime.settings_as(Settings)
    secret = settings.carrier_webhook_secret
    db = await runtime.database(MIGRATIONS)
    store = ShippingStore(db)
    sync = OrderSync(
        store,
        runtime.channels.stub(orders_pb2_grpc.OrdersServiceStub, "orders"),
        runtime.service_token(),
        settings.order_sync_interval_seconds,
        settings.order_sync_retry_seconds,
    )
    runtime.background(sync.run(), "shipping-order-sync")
    runtime.stack.push_async_callback(sync.cancel_inflight)
    return [
        Registration(
            ShippingServicer(
                store,
                runtime.channels.stub(catalog_pb2_grpc.CatalogServiceStub, "catalog"),
                sync,
                # Redis (seen signatures) is only needed, and only checked for health, with webhooks on.
                WebhookVerifier(secret.get_secret_value(), runtime.redis(), runtime.redis_keys())
                if secret is not None and secret.get_secret_value()
                else None,
            ),
            shipping_pb2_grpc.add_ShippingServiceServicer_to_server,
            shipping_pb2.DESCRIPTOR.services_by_name["ShippingService"].full_name,
        )
    ]
