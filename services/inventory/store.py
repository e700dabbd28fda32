"""Inventory persistence: stock levels, the movement history, and reservations.

Every change to stock goes through the few functions under "Stock changes" below; nothing else
in the service writes `stock_levels` or a reservation's state.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import DEFAULT_LOW_STOCK_THRESHOLD, Clock, InventoryError, Line, State, as_utc, is_expired

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Where a write transaction keeps its time (session.info).
_NOW = "inventory_now"


class Base(DeclarativeBase):
    pass


class StockLevelRow(Base):
    __tablename__ = "stock_levels"
    # As migrations/0001_stock.py creates them: the guarded UPDATEs below keep these true.
    __table_args__ = (
        sa.CheckConstraint("reserved >= 0", name="ck_stock_levels_reserved_not_negative"),
        sa.CheckConstraint("on_hand >= reserved", name="ck_stock_levels_reserved_within_on_hand"),
        sa.CheckConstraint("low_stock_threshold >= 0", name="ck_stock_levels_threshold_not_negative"),
    )

    product_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    on_hand: Mapped[int] = mapped_column(sa.BigInteger())
    reserved: Mapped[int] = mapped_column(sa.BigInteger())
    low_stock_threshold: Mapped[int] = mapped_column(sa.BigInteger())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class MovementRow(Base):
    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger())
    delta: Mapped[int] = mapped_column(sa.BigInteger())
    resulting_on_hand: Mapped[int] = mapped_column(sa.BigInteger())
    reason: Mapped[str] = mapped_column(sa.String(500))
    reference: Mapped[str] = mapped_column(sa.String(200))
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ReservationRow(Base):
    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    order_reference: Mapped[str] = mapped_column(sa.String(200), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    expire_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ReservationLineRow(Base):
    __tablename__ = "reservation_lines"
    __table_args__ = (sa.CheckConstraint("quantity > 0", name="ck_reservation_lines_quantity_positive"),)

    reservation_id: Mapped[str] = mapped_column(sa.ForeignKey("reservations.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    quantity: Mapped[int] = mapped_column(sa.BigInteger())


@dataclass(frozen=True)
class Level:
    product_id: int
    on_hand: int = 0
    reserved: int = 0
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Reservation:
    id: str
    order_reference: str
    state: State
    expire_at: datetime
    lines: tuple[Line, ...]


# The tables behind the ORM classes: the stock changes below are Core statements, which skip the
# ORM's statement compilation and bulk-update bookkeeping on every checkout.
_STOCK = cast(sa.Table, StockLevelRow.__table__)
_MOVEMENTS = cast(sa.Table, MovementRow.__table__)
_RESERVATIONS = cast(sa.Table, ReservationRow.__table__)
_RESERVATION_LINES = cast(sa.Table, ReservationLineRow.__table__)


_LEVEL_COLUMNS = (
    _STOCK.c.product_id,
    _STOCK.c.on_hand,
    _STOCK.c.reserved,
    _STOCK.c.low_stock_threshold,
)
# Built once (a hot read): the statement and its cache key are not made again per call.
_LEVELS = sa.select(*_LEVEL_COLUMNS).where(_STOCK.c.product_id.in_(sa.bindparam("ids", expanding=True)))


def _level(row: Sequence[int]) -> Level:
    return Level(row[0], row[1], row[2], row[3])


def _now(session: AsyncSession) -> datetime:
    """The time of the write transaction (InventoryStore._write)."""
    now: datetime = session.info[_NOW]
    return now


def _by_product(lines: Sequence[Line]) -> list[Line]:
    return sorted(lines, key=lambda line: line.product_id)


# --- Stock changes -------------------------------------------------------------------------------
# The only SQL that writes `stock_levels`, the movement history or a reservation's state. Each
# change is one UPDATE whose WHERE clause is its guard (on_hand never below reserved, nothing
# held that is not available, nothing released that was not held), so concurrent transactions
# cannot overdraw on SQLite (BEGIN IMMEDIATE) or PostgreSQL (the UPDATE waits for the row lock and
# re-checks its WHERE). A guard that fails returns None/False; the caller raises inside the
# transaction, which rolls every line back. Every change of on_hand writes its movement here too.
# Callers touch several products in ascending product_id order, so PostgreSQL transactions lock
# rows in one order and cannot deadlock.


async def _create_missing_levels(session: AsyncSession, product_ids: Sequence[int]) -> None:
    """Inserts zero rows for products never stocked (concurrent inserts of one product are fine)."""
    if not product_ids:
        return
    at = _now(session)
    values = [
        {
            "product_id": pid,
            "on_hand": 0,
            "reserved": 0,
            "low_stock_threshold": DEFAULT_LOW_STOCK_THRESHOLD,
            "updated_at": at,
        }
        for pid in sorted(set(product_ids))
    ]
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(sqlite.insert(_STOCK).values(values).on_conflict_do_nothing())
    else:
        await session.execute(postgresql.insert(_STOCK).values(values).on_conflict_do_nothing())


async def _lock_level(session: AsyncSession, product_id: int) -> Level | None:
    """Reads a level and locks its row until the transaction ends (SQLite: already locked)."""
    row = (
        await session.execute(
            sa.select(*_LEVEL_COLUMNS).where(_STOCK.c.product_id == product_id).with_for_update()
        )
    ).one_or_none()
    return _level(row) if row else None


async def _change_on_hand(
    session: AsyncSession, product_id: int, delta: int, reason: str, reference: str, actor: str
) -> int | None:
    """Adds `delta` to on_hand unless that would drop it below reserved; records the movement.
    Returns the resulting on_hand, or None when the guard (or a missing row) refused."""
    resulting = await session.scalar(
        sa.update(_STOCK)
        .where(
            _STOCK.c.product_id == product_id,
            _STOCK.c.on_hand + delta >= _STOCK.c.reserved,
        )
        .values(on_hand=_STOCK.c.on_hand + delta, updated_at=_now(session))
        .returning(_STOCK.c.on_hand)
    )
    if resulting is None:
        return None
    await _record_movement(session, product_id, delta, resulting, reason, reference, actor)
    return int(resulting)


async def _hold(session: AsyncSession, product_id: int, quantity: int) -> bool:
    """Moves `quantity` into reserved if that much is available."""
    result = await session.execute(
        sa.update(_STOCK)
        .where(
            _STOCK.c.product_id == product_id,
            _STOCK.c.on_hand - _STOCK.c.reserved >= quantity,
        )
        .values(reserved=_STOCK.c.reserved + quantity, updated_at=_now(session))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _unhold(session: AsyncSession, product_id: int, quantity: int) -> bool:
    """Gives `quantity` back from reserved to available."""
    result = await session.execute(
        sa.update(_STOCK)
        .where(_STOCK.c.product_id == product_id, _STOCK.c.reserved >= quantity)
        .values(reserved=_STOCK.c.reserved - quantity, updated_at=_now(session))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _take_held(
    session: AsyncSession, product_id: int, quantity: int, reason: str, reference: str, actor: str
) -> int | None:
    """Takes held stock out of the building: on_hand and reserved go down together. Records the
    movement; returns the resulting on_hand, or None when less than `quantity` was reserved."""
    resulting = await session.scalar(
        sa.update(_STOCK)
        .where(
            _STOCK.c.product_id == product_id,
            _STOCK.c.reserved >= quantity,
            _STOCK.c.on_hand >= quantity,
        )
        .values(
            on_hand=_STOCK.c.on_hand - quantity,
            reserved=_STOCK.c.reserved - quantity,
            updated_at=_now(session),
        )
        .returning(_STOCK.c.on_hand)
    )
    if resulting is None:
        return None
    await _record_movement(session, product_id, -quantity, resulting, reason, reference, actor)
    return int(resulting)


async def _set_threshold(session: AsyncSession, product_id: int, threshold: int) -> None:
    await session.execute(
        sa.update(_STOCK)
        .where(_STOCK.c.product_id == product_id)
        .values(low_stock_threshold=threshold, updated_at=_now(session))
    )


async def _record_movement(
    session: AsyncSession,
    product_id: int,
    delta: int,
    resulting_on_hand: int,
    reason: str,
    reference: str,
    actor: str,
) -> None:
    # UNIQUE(reference, product_id) for non-empty references: a concurrent twin of an idempotent
    # call fails here (IntegrityError) and its whole transaction rolls back.
    await session.execute(
        sa.insert(_MOVEMENTS).values(
            product_id=product_id,
            delta=delta,
            resulting_on_hand=resulting_on_hand,
            reason=reason,
            reference=reference,
            actor=actor[:100],
            created_at=_now(session),
        )
    )


async def _create_reservation(session: AsyncSession, reservation: Reservation) -> None:
    """Inserts a held reservation and its lines. A concurrent twin for the same order reference
    waits here for the first to commit, then fails (IntegrityError) before holding anything."""
    await session.execute(
        sa.insert(_RESERVATIONS).values(
            id=reservation.id,
            order_reference=reservation.order_reference,
            state=reservation.state.value,
            expire_at=reservation.expire_at,
            created_at=_now(session),
        )
    )
    await session.execute(
        sa.insert(_RESERVATION_LINES),
        [
            {"reservation_id": reservation.id, "product_id": line.product_id, "quantity": line.quantity}
            for line in reservation.lines
        ],
    )


async def _transition(session: AsyncSession, reservation_id: str, from_state: State, to_state: State) -> bool:
    result = await session.execute(
        sa.update(_RESERVATIONS)
        .where(_RESERVATIONS.c.id == reservation_id, _RESERVATIONS.c.state == from_state.value)
        .values(state=to_state.value)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- Reads -----------------------------------------------------------------------------------------


async def _read_levels(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Level]:
    if not product_ids:
        return {}
    rows = await session.execute(sa.select(*_LEVEL_COLUMNS).where(_STOCK.c.product_id.in_(set(product_ids))))
    found = {row[0]: _level(row) for row in rows}
    return {pid: found.get(pid) or Level(pid) for pid in product_ids}


async def _reference_used(session: AsyncSession, reference: str) -> bool:
    found = await session.scalar(
        sa.select(_MOVEMENTS.c.id).where(_MOVEMENTS.c.reference == reference).limit(1)
    )
    return found is not None


async def _load_reservation(
    session: AsyncSession, *, reservation_id: str = "", order_reference: str = "", lock: bool = False
) -> Reservation | None:
    stmt = sa.select(*_RESERVATIONS.c)
    if reservation_id:
        stmt = stmt.where(_RESERVATIONS.c.id == reservation_id)
    else:
        stmt = stmt.where(_RESERVATIONS.c.order_reference == order_reference)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    lines = await session.execute(
        sa.select(_RESERVATION_LINES.c.product_id, _RESERVATION_LINES.c.quantity)
        .where(_RESERVATION_LINES.c.reservation_id == row.id)
        .order_by(_RESERVATION_LINES.c.product_id)
    )
    return Reservation(
        id=row.id,
        order_reference=row.order_reference,
        state=State(row.state),
        expire_at=row.expire_at,
        lines=tuple(Line(pid, qty) for pid, qty in lines),
    )


def _not_found(reservation_id: str) -> DomainError:
    return DomainError(InventoryError.RESERVATION_NOT_FOUND, f"reservation {reservation_id} not found")


class InventoryStore:
    def __init__(self, db: Database, clock: Clock = timestamps.now) -> None:
        self._db = db
        self._clock = clock

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction that knows its time: one reading of the clock, for every row it
        stamps and every expiry it checks."""
        async with self._db.write() as session:
            session.info[_NOW] = self._clock()
            yield session

    # --- reading ---

    async def levels(self, product_ids: Sequence[int]) -> list[Level]:
        """One level per id, in the order asked; zeros for a product never stocked."""
        # A hot read (every stock check): one Core statement outside a transaction.
        found = {
            row[0]: _level(row) for row in await self._db.fetch(_LEVELS, {"ids": sorted(set(product_ids))})
        }
        return [found.get(pid) or Level(pid) for pid in product_ids]

    async def list_levels(self, limit: int, after: int | None, *, low_only: bool = False) -> list[Level]:
        stmt = sa.select(*_LEVEL_COLUMNS)
        if after is not None:
            stmt = stmt.where(StockLevelRow.product_id > after)
        if low_only:
            stmt = stmt.where(
                StockLevelRow.on_hand - StockLevelRow.reserved <= StockLevelRow.low_stock_threshold
            )
        async with self._db.read() as session:
            rows = await session.execute(stmt.order_by(StockLevelRow.product_id).limit(limit))
            return [_level(row) for row in rows]

    async def movements(self, product_id: int, limit: int, before: int | None) -> list[MovementRow]:
        """Newest first."""
        stmt = sa.select(MovementRow)
        if product_id:
            stmt = stmt.where(MovementRow.product_id == product_id)
        if before is not None:
            stmt = stmt.where(MovementRow.id < before)
        async with self._db.read() as session:
            return list(await session.scalars(stmt.order_by(MovementRow.id.desc()).limit(limit)))

    # --- changing ---

    async def set_stock(
        self, product_id: int, on_hand: int, threshold: int | None, reason: str, actor: str
    ) -> Level:
        async with self._write() as session:
            await _create_missing_levels(session, [product_id])
            current = await _lock_level(session, product_id)
            assert current is not None
            delta = on_hand - current.on_hand
            if delta and await _change_on_hand(session, product_id, delta, reason, "", actor) is None:
                raise DomainError(
                    InventoryError.BELOW_RESERVED,
                    f"on_hand {on_hand} is below the {current.reserved} reserved for product {product_id}",
                )
            if threshold is not None:
                await _set_threshold(session, product_id, threshold)
            return (await _read_levels(session, [product_id]))[product_id]

    async def adjust(self, lines: Sequence[Line], reference: str, reason: str, actor: str) -> list[Level]:
        """All lines or none. A reference already recorded changes nothing and answers with the
        current levels."""
        ids = [line.product_id for line in lines]
        try:
            async with self._write() as session:
                if reference and await _reference_used(session, reference):
                    found = await _read_levels(session, ids)
                    return [found[pid] for pid in ids]
                await _create_missing_levels(session, [x.product_id for x in lines if x.quantity > 0])
                for line in _by_product(lines):
                    changed = await _change_on_hand(
                        session, line.product_id, line.quantity, reason, reference, actor
                    )
                    if changed is None:
                        raise DomainError(
                            InventoryError.INSUFFICIENT_STOCK,
                            f"insufficient stock for product {line.product_id}",
                        )
                found = await _read_levels(session, ids)
                return [found[pid] for pid in ids]
        except (IntegrityError, DomainError):
            # On PostgreSQL a concurrent call with the same reference may have committed while
            # this one waited for a row lock: then this call is the repeat, not a failure.
            if not reference:
                raise
            async with self._db.read() as session:
                if not await _reference_used(session, reference):
                    raise
                found = await _read_levels(session, ids)
                return [found[pid] for pid in ids]

    async def reserve(self, order_reference: str, lines: Sequence[Line], expire_at: datetime) -> Reservation:
        """Holds every line or none; a second call for the same order returns the first reservation."""
        try:
            async with self._write() as session:
                existing = await _load_reservation(session, order_reference=order_reference)
                if existing is not None:
                    return existing
                reservation = Reservation(
                    id=str(uuid.uuid4()),
                    order_reference=order_reference,
                    state=State.HELD,
                    expire_at=expire_at,
                    lines=tuple(_by_product(lines)),
                )
                # Claims the order reference (unique) before any stock is held.
                await _create_reservation(session, reservation)
                for line in reservation.lines:
                    if not await _hold(session, line.product_id, line.quantity):
                        raise DomainError(
                            InventoryError.INSUFFICIENT_STOCK,
                            f"insufficient stock for product {line.product_id}",
                        )
                return reservation
        except IntegrityError:
            # A concurrent Reserve for the same order committed first.
            async with self._db.read() as session:
                existing = await _load_reservation(session, order_reference=order_reference)
            if existing is None:
                raise
            return existing

    async def commit(self, reservation_id: str, actor: str) -> Reservation:
        """Takes the held stock for good. Committing twice answers as the first time; a hold past
        its expiry is expired now (its stock freed) and the commit refused."""
        async with self._write() as session:
            reservation = await _load_reservation(session, reservation_id=reservation_id, lock=True)
            if reservation is None:
                raise _not_found(reservation_id)
            if reservation.state is State.COMMITTED:
                return reservation
            if reservation.state is not State.HELD:
                raise DomainError(
                    InventoryError.RESERVATION_CLOSED,
                    f"reservation {reservation_id} is {reservation.state.value}",
                )
            expired = is_expired(reservation.expire_at, _now(session))
            if expired:
                await self._close(session, reservation, State.EXPIRED)
            else:
                if not await _transition(session, reservation_id, State.HELD, State.COMMITTED):
                    raise DomainError(InventoryError.CONCURRENT_CHANGE)
                reason = f"order {reservation.order_reference} committed"
                reference = f"reservation:{reservation_id}"
                for line in reservation.lines:
                    taken = await _take_held(
                        session, line.product_id, line.quantity, reason, reference, actor
                    )
                    if taken is None:
                        raise RuntimeError(
                            f"reservation {reservation_id} holds more of product {line.product_id} "
                            "than is reserved"
                        )
        if expired:
            raise DomainError(InventoryError.RESERVATION_EXPIRED, f"reservation {reservation_id} has expired")
        return replace(reservation, state=State.COMMITTED)

    async def release(self, reservation_id: str) -> Reservation:
        """Frees held stock. Releasing a released or expired reservation changes nothing."""
        async with self._write() as session:
            reservation = await _load_reservation(session, reservation_id=reservation_id, lock=True)
            if reservation is None:
                raise _not_found(reservation_id)
            if reservation.state in (State.RELEASED, State.EXPIRED):
                return reservation
            if reservation.state is State.COMMITTED:
                raise DomainError(
                    InventoryError.RESERVATION_CLOSED, f"reservation {reservation_id} is already committed"
                )
            await self._close(session, reservation, State.RELEASED)
        return replace(reservation, state=State.RELEASED)

    async def extend(self, reservation_id: str, expire_at: datetime) -> Reservation:
        """Keeps a held reservation alive until `expire_at` (never shortens it). A hold already
        past its expiry is expired now (its stock freed) and the extension refused."""
        async with self._write() as session:
            reservation = await _load_reservation(session, reservation_id=reservation_id, lock=True)
            if reservation is None:
                raise _not_found(reservation_id)
            if reservation.state is not State.HELD:
                raise DomainError(
                    InventoryError.RESERVATION_CLOSED,
                    f"reservation {reservation_id} is {reservation.state.value}",
                )
            expired = is_expired(reservation.expire_at, _now(session))
            if expired:
                await self._close(session, reservation, State.EXPIRED)
            elif expire_at > as_utc(reservation.expire_at):
                await session.execute(
                    sa.update(ReservationRow)
                    .where(ReservationRow.id == reservation_id, ReservationRow.state == State.HELD.value)
                    .values(expire_at=expire_at)
                    .execution_options(synchronize_session=False)
                )
                reservation = replace(reservation, expire_at=expire_at)
        if expired:
            raise DomainError(InventoryError.RESERVATION_EXPIRED, f"reservation {reservation_id} has expired")
        return reservation

    async def expire_due(self, now: datetime, limit: int) -> list[Reservation]:
        """The sweeper's step: expires up to `limit` held reservations whose expiry has passed,
        giving their stock back, one transaction each (a commit or extension racing it wins or
        loses cleanly on the reservation's row). Returns the ones it expired."""
        async with self._db.read() as session:
            ids = list(
                await session.scalars(
                    sa.select(ReservationRow.id)
                    .where(ReservationRow.state == State.HELD.value, ReservationRow.expire_at <= now)
                    .order_by(ReservationRow.expire_at)
                    .limit(limit)
                )
            )
        expired = []
        for reservation_id in ids:
            async with self._write() as session:
                reservation = await _load_reservation(session, reservation_id=reservation_id, lock=True)
                # Re-checked under the lock: it may have been committed, released or extended since.
                if (
                    reservation is None
                    or reservation.state is not State.HELD
                    or not is_expired(reservation.expire_at, now)
                ):
                    continue
                await self._close(session, reservation, State.EXPIRED)
            expired.append(replace(reservation, state=State.EXPIRED))
        return expired

    async def count_low(self) -> int:
        """Products whose available stock is at or below their low-stock threshold."""
        async with self._db.read() as session:
            count = await session.scalar(
                sa.select(sa.func.count())
                .select_from(StockLevelRow)
                .where(StockLevelRow.on_hand - StockLevelRow.reserved <= StockLevelRow.low_stock_threshold)
            )
        return int(count or 0)

    @staticmethod
    async def _close(session: AsyncSession, reservation: Reservation, to_state: State) -> None:
        """HELD -> RELEASED or EXPIRED, giving every held line back (the sweeper's path too)."""
        if not await _transition(session, reservation.id, State.HELD, to_state):
            raise DomainError(InventoryError.CONCURRENT_CHANGE)
        for line in reservation.lines:
            if not await _unhold(session, line.product_id, line.quantity):
                raise RuntimeError(
                    f"reservation {reservation.id} holds more of product {line.product_id} than is reserved"
                )
