"""The shipping gRPC servicer: quotes from the zone rate table, shipments and their tracking
timelines, carrier webhooks, and zone administration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from google.protobuf import json_format
from pydantic import Field, SecretStr

from services.kit import money, paging, principal, timestamps
from services.kit.config import ServiceSettings
from services.kit.errors import CommonError, DomainError, invalid
from services.kit.server import Registration, Runtime
from shop.catalog.v1 import catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.orders.v1 import orders_pb2_grpc
from shop.shipping.v1 import shipping_pb2, shipping_pb2_grpc

from . import domain, requests
from .domain import METHODS, ShippingError, Status
from .quoting import Quoting
from .store import EventRow, NewEvent, ShipmentView, ShippingStore, Target, ZoneRow, rate_from_json
from .sync import OrderSync
from .webhooks import WebhookVerifier

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A carrier's JSON body; anything larger is refused before its signature is computed.
MAX_WEBHOOK_BYTES = 64 * 1024


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
        self._quoting = Quoting(store, catalog)
        self._sync = sync
        self._webhooks = webhooks

    async def QuoteShipping(
        self, request: shipping_pb2.QuoteShippingRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.QuoteShippingResponse:
        if not request.HasField("address"):
            raise invalid("address is required")
        options = await self._quoting.quote(requests.address(request.address, "address"), request.lines)
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
        address = requests.address(request.address, "address")
        method = domain.method_of(request.method or domain.DEFAULT_METHOD)
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
        shipment_id = domain.shipment_id(request.id)
        view = await self._store.get(Target(shipment_id=shipment_id)) if shipment_id else None
        if view is None or not caller.may_see(view.shipment.user_id):
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
            target, name = (
                Target(shipment_id=domain.shipment_id(request.shipment_id) or -1),
                request.shipment_id,
            )
        elif which == "tracking_number":
            target, name = (
                Target(tracking_number=request.tracking_number.strip().upper()),
                request.tracking_number,
            )
        else:
            raise invalid("shipment_id or tracking_number is required")
        if not request.HasField("event"):
            raise invalid("event is required")
        shipment = await self._record(target, requests.event(request.event), name)
        return shipping_pb2.AddTrackingEventResponse(shipment=shipment)

    async def HandleCarrierWebhook(
        self, request: shipping_pb2.HandleCarrierWebhookRequest, context: grpc.aio.ServicerContext
    ) -> shipping_pb2.HandleCarrierWebhookResponse:
        if self._webhooks is None:
            raise DomainError(ShippingError.WEBHOOKS_DISABLED)
        if len(request.payload) > MAX_WEBHOOK_BYTES:
            raise invalid(f"the webhook body must be at most {MAX_WEBHOOK_BYTES} bytes")
        await self._webhooks.verify(request.payload, request.signature, request.timestamp)
        carrier = domain.carrier_name(request.carrier)
        tracking, event = requests.webhook_event(request.payload)
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
        result = await self._store.upsert_zone(requests.zone(request.zone))
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
