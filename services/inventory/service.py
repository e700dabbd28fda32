"""The inventory's gRPC servicer: validates, calls the store, maps rows to messages.

Reading stock is for admins and internal services, setting it for admins (and the catalog, which
sets a product's stock for one), the movement history for admins; adjusting, reserving,
committing and releasing for internal services (orders).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import grpc
from pydantic import Field

from services.kit import paging, principal, telemetry, timestamps
from services.kit.config import ServiceSettings
from services.kit.errors import CommonError, DomainError, invalid
from services.kit.server import Build, Registration, Runtime
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from . import domain, metrics
from .domain import Clock, State
from .low_stock import LowStockGauge
from .store import InventoryStore, Level, MovementRow, Reservation
from .sweeper import Sweeper

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The one service that may set stock (a product's, for the admin who created or changed it).
STOCK_SETTER = f"{principal.SERVICE_SUBJECT_PREFIX}catalog"

log = logging.getLogger(__name__)


class Settings(ServiceSettings):
    # How long a reservation holds stock when Reserve names no ttl_seconds.
    reservation_ttl_seconds: int = Field(default=900, gt=0, le=domain.MAX_TTL_SECONDS)
    # How often the sweeper expires held reservations past their expiry (and refreshes the
    # low-stock gauge); 0 turns it off.
    sweep_interval_seconds: float = Field(default=30.0, ge=0)
    # Reservations expired per sweep at most (the next sweep takes the rest).
    sweep_batch: int = Field(default=500, gt=0)


_STATES = {
    State.HELD: inventory_pb2.RESERVATION_STATE_HELD,
    State.COMMITTED: inventory_pb2.RESERVATION_STATE_COMMITTED,
    State.RELEASED: inventory_pb2.RESERVATION_STATE_RELEASED,
    State.EXPIRED: inventory_pb2.RESERVATION_STATE_EXPIRED,
}


def _level(level: Level) -> inventory_pb2.StockLevel:
    return inventory_pb2.StockLevel(
        product_id=level.product_id,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        low_stock_threshold=level.low_stock_threshold,
    )


def _movement(row: MovementRow) -> inventory_pb2.Movement:
    return inventory_pb2.Movement(
        id=row.id,
        product_id=row.product_id,
        delta=row.delta,
        resulting_on_hand=row.resulting_on_hand,
        reason=row.reason,
        reference=row.reference,
        actor=row.actor,
        create_time=timestamps.to_proto(row.created_at),
    )


def _reservation(reservation: Reservation) -> inventory_pb2.Reservation:
    return inventory_pb2.Reservation(
        id=reservation.id,
        order_reference=reservation.order_reference,
        lines=[
            inventory_pb2.StockLine(product_id=x.product_id, quantity=x.quantity) for x in reservation.lines
        ],
        state=_STATES[reservation.state],
        expire_time=timestamps.to_proto(reservation.expire_at),
    )


def _lines(lines: Sequence[inventory_pb2.StockLine], *, signed: bool) -> list[domain.Line]:
    return domain.lines(((line.product_id, line.quantity) for line in lines), signed=signed)


def _reservation_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise invalid("reservation_id must be a reservation's id (a UUID)") from None


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, store: InventoryStore, settings: Settings, gauge: LowStockGauge, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._gauge = gauge
        self._clock = clock

    async def GetStock(
        self, request: inventory_pb2.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.GetStockResponse:
        principal.require_admin_or_service()
        (level,) = await self._store.levels([domain.product_id(request.product_id)])
        return inventory_pb2.GetStockResponse(level=_level(level))

    async def BatchGetStock(
        self, request: inventory_pb2.BatchGetStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.BatchGetStockResponse:
        principal.require_admin_or_service()
        if len(request.product_ids) > domain.MAX_BATCH:
            raise invalid(f"at most {domain.MAX_BATCH} ids per call")
        ids = [domain.product_id(pid, "product_ids") for pid in request.product_ids]
        levels = await self._store.levels(ids)
        return inventory_pb2.BatchGetStockResponse(levels=[_level(x) for x in levels])

    async def ListStock(
        self, request: inventory_pb2.ListStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ListStockResponse:
        principal.require_admin_or_service()
        size = paging.page_size(request.page_size)
        levels = await self._store.list_levels(size + 1, paging.decode_int(request.page_token))
        levels, token = paging.split(levels, size, lambda x: paging.encode(x.product_id))
        return inventory_pb2.ListStockResponse(levels=[_level(x) for x in levels], next_page_token=token)

    async def SetStock(
        self, request: inventory_pb2.SetStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.SetStockResponse:
        caller = principal.require_admin_or_service()
        actor = ""
        if caller.is_service:
            # Of the services only the catalog, which sets a product's stock for the admin who
            # changed the product: the movement names that admin, as when the admin calls.
            if caller.subject != STOCK_SETTER:
                raise DomainError(CommonError.PERMISSION_DENIED, "admin role required")
            actor = domain.text(request.actor, "actor", domain.MAX_ACTOR)
        level = await self._store.set_stock(
            domain.product_id(request.product_id),
            domain.on_hand(request.on_hand),
            domain.threshold(request.low_stock_threshold)
            if request.HasField("low_stock_threshold")
            else None,
            domain.text(request.reason, "reason", domain.MAX_REASON) or "stock set",
            actor or caller.subject,
        )
        self._gauge.touch()
        return inventory_pb2.SetStockResponse(level=_level(level))

    async def AdjustStock(
        self, request: inventory_pb2.AdjustStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.AdjustStockResponse:
        caller = principal.require_service()
        levels = await self._store.adjust(
            _lines(request.lines, signed=True),
            domain.text(request.reference, "reference", domain.MAX_REFERENCE),
            domain.text(request.reason, "reason", domain.MAX_REASON) or "adjustment",
            caller.subject,
        )
        self._gauge.touch()
        return inventory_pb2.AdjustStockResponse(levels=[_level(x) for x in levels])

    async def Reserve(
        self, request: inventory_pb2.ReserveRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ReserveResponse:
        principal.require_service()
        order_reference = domain.text(
            request.order_reference, "order_reference", domain.MAX_REFERENCE, required=True
        )
        lines = _lines(request.lines, signed=False)
        ttl = domain.ttl_seconds(request.ttl_seconds, self._settings.reservation_ttl_seconds)
        reservation = await self._store.reserve(
            order_reference, lines, self._clock() + timedelta(seconds=ttl)
        )
        self._gauge.touch()
        return inventory_pb2.ReserveResponse(reservation=_reservation(reservation))

    async def CommitReservation(
        self, request: inventory_pb2.CommitReservationRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.CommitReservationResponse:
        caller = principal.require_service()
        try:
            reservation = await self._store.commit(_reservation_id(request.reservation_id), caller.subject)
        finally:
            self._gauge.touch()
        return inventory_pb2.CommitReservationResponse(reservation=_reservation(reservation))

    async def ReleaseReservation(
        self, request: inventory_pb2.ReleaseReservationRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ReleaseReservationResponse:
        caller = principal.require_service()
        reservation_id = _reservation_id(request.reservation_id)
        reason = domain.text(request.reason, "reason", domain.MAX_REASON)
        reservation = await self._store.release(reservation_id)
        self._gauge.touch()
        # Reservations keep no reason column; the log line is the record.
        log.info(
            "reservation released",
            extra={"reservation_id": reservation_id, "reason": reason, "caller": caller.subject},
        )
        return inventory_pb2.ReleaseReservationResponse(reservation=_reservation(reservation))

    async def ExtendReservation(
        self, request: inventory_pb2.ExtendReservationRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ExtendReservationResponse:
        principal.require_service()
        reservation_id = _reservation_id(request.reservation_id)
        ttl = domain.ttl_seconds(request.ttl_seconds, self._settings.reservation_ttl_seconds)
        try:
            reservation = await self._store.extend(reservation_id, self._clock() + timedelta(seconds=ttl))
        except DomainError:
            self._gauge.touch()  # an expired hold was just given back
            raise
        return inventory_pb2.ExtendReservationResponse(reservation=_reservation(reservation))

    async def ListMovements(
        self, request: inventory_pb2.ListMovementsRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ListMovementsResponse:
        principal.require_admin()
        if request.product_id < 0:
            raise invalid("product_id must not be negative")
        size = paging.page_size(request.page_size)
        rows = await self._store.movements(
            request.product_id, size + 1, paging.decode_int(request.page_token)
        )
        rows, token = paging.split(rows, size, lambda r: paging.encode(r.id))
        return inventory_pb2.ListMovementsResponse(
            movements=[_movement(r) for r in rows], next_page_token=token
        )

    async def ListLowStock(
        self, request: inventory_pb2.ListLowStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.ListLowStockResponse:
        principal.require_admin()
        size = paging.page_size(request.page_size)
        levels = await self._store.list_levels(size + 1, paging.decode_int(request.page_token), low_only=True)
        levels, token = paging.split(levels, size, lambda x: paging.encode(x.product_id))
        return inventory_pb2.ListLowStockResponse(levels=[_level(x) for x in levels], next_page_token=token)


def build_with_clock(clock: Clock) -> Build:
    """The service's build, reading the time from `clock` (tests pass one they can move)."""

    async def build(runtime: Runtime) -> Sequence[Registration]:
        db = await runtime.database(MIGRATIONS)
        runtime.background(telemetry.refreshing(metrics.refresher(db, clock)), "inventory-metrics")
        settings = runtime.settings_as(Settings)
        store = InventoryStore(db, clock)
        gauge = LowStockGauge(store)
        runtime.stack.push_async_callback(gauge.close)
        if settings.sweep_interval_seconds > 0:
            sweeper = Sweeper(
                store, gauge, clock, batch=settings.sweep_batch, interval=settings.sweep_interval_seconds
            )
            runtime.background(sweeper.run(), "reservation-sweeper")
        return [
            Registration(
                InventoryServicer(store, settings, gauge, clock),
                inventory_pb2_grpc.add_InventoryServiceServicer_to_server,
                inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
            )
        ]

    return build


build = build_with_clock(timestamps.now)
