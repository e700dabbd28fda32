"""Shipping persistence: zones (with their rates), shipments with their tracking events, and the
outbox of order updates still to tell the orders service.

A tracking event, the shipment's new status and the order update it implies are written in one
transaction, so an order update is never lost even when orders is down (see `sync.py`).
"""

from __future__ import annotations

import base64
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database, added
from services.kit.errors import DomainError

from . import domain
from .domain import ShippingError, Status

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CREATE_ATTEMPTS = 5
# A new order update is left to the RPC that recorded it for this long before the background
# loop may take it (see OrderSync.settle_soon).
FRESH_UPDATE_GRACE = timedelta(seconds=10)


class Base(DeclarativeBase):
    pass


class ZoneRow(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    countries: Mapped[list[str]] = mapped_column(sa.JSON())
    regions: Mapped[list[str]] = mapped_column(sa.JSON())
    postcode_prefixes: Mapped[list[str]] = mapped_column(sa.JSON())
    # [{method, currency, base_minor, per_kg_minor, free_over_minor, min_days, max_days}]
    rates: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    def to_domain(self) -> domain.Zone:
        return domain.Zone(
            id=self.id,
            name=self.name,
            countries=tuple(self.countries),
            regions=tuple(self.regions),
            postcode_prefixes=tuple(self.postcode_prefixes),
            rates=tuple(rate_from_json(r) for r in self.rates),
        )


class ShipmentRow(Base):
    __tablename__ = "shipments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger(), unique=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger(), index=True)
    # The shop.common.v1.Address fields.
    address: Mapped[dict[str, str]] = mapped_column(sa.JSON())
    method: Mapped[str] = mapped_column(sa.String(40))
    carrier: Mapped[str] = mapped_column(sa.String(40))
    tracking_number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class EventRow(Base):
    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(sa.BigInteger(), sa.ForeignKey("shipments.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    event_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class OrderUpdateRow(Base):
    """An order status shipping owes the orders service; done_at is set once it is settled."""

    __tablename__ = "order_updates"
    __table_args__ = (sa.UniqueConstraint("order_id", "target", name="uq_order_updates_order_target"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.BigInteger())
    shipment_id: Mapped[int] = mapped_column(sa.BigInteger())
    target: Mapped[str] = mapped_column(sa.String(20))
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


def rate_to_json(rate: domain.Rate) -> dict[str, Any]:
    return {
        "method": rate.method,
        "currency": rate.currency,
        "base_minor": rate.base_minor,
        "per_kg_minor": rate.per_kg_minor,
        "free_over_minor": rate.free_over_minor,
        "min_days": rate.min_days,
        "max_days": rate.max_days,
    }


def rate_from_json(data: dict[str, Any]) -> domain.Rate:
    free = data.get("free_over_minor")
    return domain.Rate(
        method=str(data["method"]),
        currency=str(data["currency"]),
        base_minor=int(data["base_minor"]),
        per_kg_minor=int(data["per_kg_minor"]),
        free_over_minor=None if free is None else int(free),
        min_days=int(data["min_days"]),
        max_days=int(data["max_days"]),
    )


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_tracking_number() -> str:
    """ "SHP" and 16 random base32 characters (80 bits)."""
    return "SHP" + base64.b32encode(secrets.token_bytes(10)).decode()


@dataclass(frozen=True)
class ShipmentView:
    shipment: ShipmentRow
    # Oldest first.
    events: list[EventRow]


@dataclass(frozen=True)
class NewEvent:
    status: Status
    location: str
    message: str
    event_time: datetime


@dataclass(frozen=True)
class Target:
    """Which shipment an event is for: by id, or by tracking number (carriers know only that),
    optionally only if it travels with `carrier`."""

    shipment_id: int | None = None
    tracking_number: str | None = None
    carrier: str | None = None


class ShippingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def anonymize_user(self, user_id: int) -> int:
        """Detaches the user's shipments from them: user 0 and no address."""
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(ShipmentRow)
                .where(ShipmentRow.user_id == user_id)
                .values(user_id=0, address={})
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- zones -------------------------------------------------------------------------------

    async def all_zones(self) -> list[domain.Zone]:
        async with self._db.read() as session:
            return [row.to_domain() for row in await session.scalars(sa.select(ZoneRow))]

    async def zones_page(self, limit: int, after: int | None) -> list[ZoneRow]:
        stmt = sa.select(ZoneRow).order_by(ZoneRow.id).limit(limit)
        if after is not None:
            stmt = stmt.where(ZoneRow.id > after)
        async with self._db.read() as session:
            return list(await session.scalars(stmt))

    async def upsert_zone(self, zone: domain.Zone) -> tuple[ZoneRow, bool] | None:
        """Creates the zone (id 0) or replaces it whole; None when the id names no zone."""
        at = timestamps.now()
        values = {
            "name": zone.name,
            "countries": list(zone.countries),
            "regions": list(zone.regions),
            "postcode_prefixes": list(zone.postcode_prefixes),
            "rates": [rate_to_json(r) for r in zone.rates],
        }
        async with self._db.write() as session:
            if zone.id == 0:
                row = ZoneRow(**values, created_at=at, updated_at=at)
                session.add(row)
                return row, True
            found = await session.scalar(sa.select(ZoneRow).where(ZoneRow.id == zone.id).with_for_update())
            if found is None:
                return None
            for key, value in values.items():
                setattr(found, key, value)
            found.updated_at = at
            return found, False

    async def delete_zone(self, zone_id: int) -> bool:
        async with self._db.write() as session:
            result = await session.execute(sa.delete(ZoneRow).where(ZoneRow.id == zone_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- shipments ---------------------------------------------------------------------------

    async def create_shipment(
        self, order_id: int, user_id: int, address: dict[str, str], method: str, carrier: str
    ) -> tuple[ShipmentView, bool]:
        """The order's shipment, created with its LABEL_CREATED event unless the order already has
        one (then that one, and False). Safe against concurrent calls for the same order."""
        async with self._db.write() as session:
            for _ in range(_CREATE_ATTEMPTS):
                existing = await session.scalar(
                    sa.select(ShipmentRow).where(ShipmentRow.order_id == order_id)
                )
                if existing is not None:
                    return await self._view(session, existing), False
                at = timestamps.now()
                row = ShipmentRow(
                    order_id=order_id,
                    user_id=user_id,
                    address=address,
                    method=method,
                    carrier=carrier,
                    tracking_number=new_tracking_number(),
                    status=str(Status.LABEL_CREATED),
                    created_at=at,
                    updated_at=at,
                )
                if not await added(session, row):
                    continue  # the same order concurrently, or (never in practice) a tracking clash
                event = EventRow(
                    shipment_id=row.id,
                    status=str(Status.LABEL_CREATED),
                    location="",
                    message="Shipping label created",
                    event_time=at,
                    created_at=at,
                )
                session.add(event)
                return ShipmentView(row, [event]), True
        raise DomainError(ShippingError.CONCURRENT_CHANGE)

    async def get(self, target: Target) -> ShipmentView | None:
        async with self._db.read() as session:
            row = await session.scalar(_select_target(target))
            return None if row is None else await self._view(session, row)

    async def page(
        self, user_id: int | None, order_id: int | None, limit: int, after: int | None
    ) -> list[ShipmentView]:
        """Newest first."""
        stmt = sa.select(ShipmentRow).order_by(ShipmentRow.id.desc()).limit(limit)
        if user_id is not None:
            stmt = stmt.where(ShipmentRow.user_id == user_id)
        if order_id is not None:
            stmt = stmt.where(ShipmentRow.order_id == order_id)
        if after is not None:
            stmt = stmt.where(ShipmentRow.id < after)
        async with self._db.read() as session:
            rows = list(await session.scalars(stmt))
            events = await self._events(session, [r.id for r in rows])
        return [ShipmentView(r, events.get(r.id, [])) for r in rows]

    async def add_event(self, target: Target, event: NewEvent) -> ShipmentView | None:
        """Appends the event and moves the shipment to its status, recording the order update it
        implies, all in one transaction. A repeat of an event already on the timeline (a carrier
        resending a webhook) changes nothing. None when there is no such shipment."""
        async with self._db.write() as session:
            row = await session.scalar(_select_target(target).with_for_update())
            if row is None:
                return None
            view = await self._view(session, row)
            if any(_same(e, event) for e in view.events):
                return view
            current = Status(row.status)
            domain.check_transition(current, event.status)
            at = timestamps.now()
            result = await session.execute(
                sa.update(ShipmentRow)
                .where(ShipmentRow.id == row.id, ShipmentRow.status == str(current))
                .values(status=str(event.status), updated_at=at)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise DomainError(ShippingError.CONCURRENT_CHANGE)
            session.add(
                EventRow(
                    shipment_id=row.id,
                    status=str(event.status),
                    location=event.location,
                    message=event.message,
                    event_time=event.event_time,
                    created_at=at,
                )
            )
            target_status = domain.order_target(event.status)
            if target_status is not None:
                await self._owe_order_update(session, row, target_status, at)
        return await self.get(Target(shipment_id=row.id))

    async def _owe_order_update(
        self, session: AsyncSession, row: ShipmentRow, target: domain.OrderTarget, at: datetime
    ) -> None:
        exists = await session.scalar(
            sa.select(OrderUpdateRow.id).where(
                OrderUpdateRow.order_id == row.order_id, OrderUpdateRow.target == str(target)
            )
        )
        if exists is None:
            session.add(
                OrderUpdateRow(
                    order_id=row.order_id,
                    shipment_id=row.id,
                    target=str(target),
                    attempts=0,
                    next_attempt_at=at + FRESH_UPDATE_GRACE,
                    last_error="",
                    created_at=at,
                )
            )

    async def _view(self, session: AsyncSession, row: ShipmentRow) -> ShipmentView:
        events = await self._events(session, [row.id])
        return ShipmentView(row, events.get(row.id, []))

    async def _events(self, session: AsyncSession, shipment_ids: Sequence[int]) -> dict[int, list[EventRow]]:
        if not shipment_ids:
            return {}
        rows = await session.scalars(
            sa.select(EventRow)
            .where(EventRow.shipment_id.in_(set(shipment_ids)))
            .order_by(EventRow.shipment_id, EventRow.event_time, EventRow.id)
        )
        found: dict[int, list[EventRow]] = defaultdict(list)
        for event in rows:
            found[event.shipment_id].append(event)
        return found

    # --- the order update outbox -------------------------------------------------------------

    async def due_order_updates(self, now: datetime, limit: int) -> list[OrderUpdateRow]:
        async with self._db.read() as session:
            return list(
                await session.scalars(
                    sa.select(OrderUpdateRow)
                    .where(OrderUpdateRow.done_at.is_(None), OrderUpdateRow.next_attempt_at <= now)
                    .order_by(OrderUpdateRow.id)
                    .limit(limit)
                )
            )

    async def pending_order_updates(self, order_id: int) -> list[OrderUpdateRow]:
        async with self._db.read() as session:
            return list(
                await session.scalars(
                    sa.select(OrderUpdateRow)
                    .where(OrderUpdateRow.order_id == order_id, OrderUpdateRow.done_at.is_(None))
                    .order_by(OrderUpdateRow.id)
                )
            )

    async def claim_order_update(
        self, update_id: int, now: datetime, lease_until: datetime, *, fresh: bool = False
    ) -> bool:
        """Takes the update for one attempt (until `lease_until`), unless another worker has it:
        a due one, or with `fresh`, one never tried yet (the RPC that recorded it tries first)."""
        ready = OrderUpdateRow.attempts == 0 if fresh else OrderUpdateRow.next_attempt_at <= now
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(OrderUpdateRow)
                .where(OrderUpdateRow.id == update_id, OrderUpdateRow.done_at.is_(None), ready)
                .values(next_attempt_at=lease_until, attempts=OrderUpdateRow.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def settle_order_update(self, update_id: int, note: str) -> None:
        async with self._db.write() as session:
            await session.execute(
                sa.update(OrderUpdateRow)
                .where(OrderUpdateRow.id == update_id)
                .values(done_at=timestamps.now(), last_error=note[:500])
            )

    async def retry_order_update(self, update_id: int, next_attempt_at: datetime, error: str) -> None:
        async with self._db.write() as session:
            await session.execute(
                sa.update(OrderUpdateRow)
                .where(OrderUpdateRow.id == update_id, OrderUpdateRow.done_at.is_(None))
                .values(next_attempt_at=next_attempt_at, last_error=error[:500])
            )


def _select_target(target: Target) -> sa.Select[ShipmentRow]:
    stmt = sa.select(ShipmentRow)
    if target.shipment_id is not None:
        stmt = stmt.where(ShipmentRow.id == target.shipment_id)
    elif target.tracking_number is not None:
        stmt = stmt.where(ShipmentRow.tracking_number == target.tracking_number)
    else:
        stmt = stmt.where(sa.false())
    if target.carrier is not None:
        stmt = stmt.where(ShipmentRow.carrier == target.carrier)
    return stmt


def _same(row: EventRow, event: NewEvent) -> bool:
    return (
        row.status == str(event.status)
        and row.location == event.location
        and row.message == event.message
        and aware(row.event_time) == aware(event.event_time)
    )
