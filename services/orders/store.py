"""Orders persistence: orders, their lines and their status events.

Every status change is a conditional UPDATE (`WHERE status IN (...)`) with its event in the same
transaction, so two racing changes (a cancel and a checkout, two cancels) cannot both win.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import OrderError, PricedLine, Status, Totals, cart_taken

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


# Orders that let go of their cart: a failed or cancelled checkout leaves the cart to try again.
RELEASED = (Status.FAILED.value, Status.CANCELLED.value)
_HOLDS_CART = sa.and_(sa.text("cart_version IS NOT NULL"), sa.text("status NOT IN ('failed', 'cancelled')"))


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_key"),
        # One cart version makes at most one live order, however many checkouts race for it.
        sa.Index(
            "uq_orders_user_cart",
            "user_id",
            "cart_version",
            unique=True,
            sqlite_where=_HOLDS_CART,
            postgresql_where=_HOLDS_CART,
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    status: Mapped[str] = mapped_column(sa.String(16))
    subtotal_minor: Mapped[int] = mapped_column(sa.BigInteger())
    shipping_minor: Mapped[int] = mapped_column(sa.BigInteger())
    total_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    payment_id: Mapped[str] = mapped_column(sa.String(36), default="")
    # NULL when the client sent none: NULLs never collide in the unique constraint.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # The inventory reservation holding this order's stock ("" until Reserve answered).
    reservation_id: Mapped[str] = mapped_column(sa.String(36), default="")
    # JSON of a shop.common.v1.Address; "" when the order has no address.
    shipping_address: Mapped[str] = mapped_column(sa.Text(), default="")
    shipping_method: Mapped[str] = mapped_column(sa.String(64), default="")
    shipment_id: Mapped[str] = mapped_column(sa.String(64), default="")
    # Paid, to be shipped, no shipment created yet: the recovery pass creates it.
    needs_shipment: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    # Failed or cancelled, yet payments may hold money for it (a charge that got no answer, a
    # refund that failed, a checkout cancelled mid-way): the recovery pass refunds what it finds.
    payment_unsettled: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    # The restock reference of goods that should be back on the shelf but inventory could not
    # take at the time ("" when none): the recovery pass retries it.
    restock_due: Mapped[str] = mapped_column(sa.String(120), default="")
    # The version of the cart this order was made from (cart service); NULL for orders made before
    # carts had versions, and once the person's data is forgotten.
    cart_version: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class LineRow(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(_ID, sa.ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(sa.BigInteger())
    product_name: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int] = mapped_column(sa.BigInteger())
    unit_price_minor: Mapped[int] = mapped_column(sa.BigInteger())


class EventRow(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(_ID, sa.ForeignKey("orders.id"))
    from_status: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


# An order as a session loads it, or as a hot read returns it (the same attributes).
OrderData = OrderRow | sa.Row[Any]

_ORDERS = cast(sa.Table, OrderRow.__table__)
_LINES = cast(sa.Table, LineRow.__table__)
_EVENTS = cast(sa.Table, EventRow.__table__)

# The hot reads, built once with bound parameters.
_STATUS = sa.select(OrderRow.status).where(OrderRow.id == sa.bindparam("id"))
_ID_BY_KEY = sa.select(OrderRow.id).where(
    OrderRow.user_id == sa.bindparam("user_id"), OrderRow.idempotency_key == sa.bindparam("key")
)
_ORDER_READS = (
    sa.select(*OrderRow.__table__.columns).where(OrderRow.id == sa.bindparam("id")),
    sa.select(*LineRow.__table__.columns).where(LineRow.order_id == sa.bindparam("id")).order_by(LineRow.id),
    sa.select(*EventRow.__table__.columns)
    .where(EventRow.order_id == sa.bindparam("id"))
    .order_by(EventRow.id),
)


@dataclass(frozen=True)
class OrderView:
    """An order with its lines and events: ORM rows from a session, or Core rows (the same
    attributes) from the hot reads."""

    order: OrderData
    lines: Sequence[LineRow | sa.Row[Any]]
    events: Sequence[EventRow | sa.Row[Any]]

    @property
    def status(self) -> Status:
        return Status(self.order.status)

    @property
    def quantities(self) -> list[tuple[int, int]]:
        """(product_id, quantity) of every line."""
        return [(line.product_id, line.quantity) for line in self.lines]


def _event(order_id: int, from_status: Status | None, to_status: Status, note: str, actor: str) -> sa.Insert:
    # Writes are Core statements in the write's transaction: the ORM's unit of work (flush,
    # identity map) cost more CPU than the statements themselves on the checkout path.
    return _EVENTS.insert().values(
        order_id=order_id,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        note=note[:500],
        actor=actor[:100],
        created_at=timestamps.now(),
    )


class OrdersStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        user_id: int,
        key: str | None,
        lines: Sequence[PricedLine],
        totals: Totals,
        actor: str,
        *,
        cart_version: str | None = None,
        shipping_address: str = "",
        shipping_method: str = "",
    ) -> tuple[OrderView, bool]:
        """Inserts a PENDING order with its lines; (order, True). With a key already used by this
        user, nothing is written: (that earlier order, False). A cart version that a live order
        already claimed raises CART_CHECKOUT_IN_PROGRESS / CART_ALREADY_ORDERED."""
        try:
            async with self._db.write() as session:
                if key is not None:
                    existing = await self._id_by_key(session, user_id, key)
                    if existing is not None:
                        return await self._view(session, existing), False
                if cart_version is not None:
                    holder = await self._cart_holder(session, user_id, cart_version)
                    if holder is not None:
                        holder_id, holder_status, holder_key = holder
                        if key is not None and holder_key == key:
                            # The same request, committed since the look-up by key above.
                            return await self._view(session, holder_id), False
                        raise DomainError(cart_taken(holder_status))
                at = timestamps.now()
                inserted = await session.execute(
                    _ORDERS.insert()
                    .values(
                        user_id=user_id,
                        status=Status.PENDING.value,
                        subtotal_minor=totals.subtotal_minor,
                        shipping_minor=totals.shipping_minor,
                        total_minor=totals.total_minor,
                        currency=totals.currency,
                        payment_id="",
                        idempotency_key=key,
                        created_at=at,
                        updated_at=at,
                        reservation_id="",
                        shipping_address=shipping_address,
                        shipping_method=shipping_method,
                        shipment_id="",
                        needs_shipment=False,
                        payment_unsettled=False,
                        restock_due="",
                        cart_version=cart_version,
                    )
                    .returning(_ORDERS.c.id)
                )
                order_id = int(inserted.scalar_one())
                if lines:
                    await session.execute(
                        _LINES.insert(),
                        [
                            {
                                "order_id": order_id,
                                "product_id": line.product_id,
                                "product_name": line.product_name,
                                "quantity": line.quantity,
                                "unit_price_minor": line.unit_price_minor,
                            }
                            for line in lines
                        ],
                    )
                await session.execute(_event(order_id, None, Status.PENDING, "checkout started", actor))
        except IntegrityError:
            # A concurrent request committed first (PostgreSQL): with the same key, answer as it
            # does; otherwise it claimed the same cart.
            earlier = await self.by_key(user_id, key) if key is not None else None
            if earlier is not None:
                return earlier, False
            if cart_version is None:
                raise
            async with self._db.read() as session:
                holder = await self._cart_holder(session, user_id, cart_version)
            raise DomainError(
                cart_taken(holder[1]) if holder is not None else OrderError.CART_CHECKOUT_IN_PROGRESS
            ) from None
        view = await self.get(order_id)
        assert view is not None
        return view, True

    async def transition(
        self,
        order_id: int,
        from_statuses: Collection[Status],
        to_status: Status,
        note: str,
        actor: str,
        *,
        payment_id: str | None = None,
        needs_shipment: bool | None = None,
        reservation_id: str | None = None,
        payment_unsettled: bool | None = None,
    ) -> Status | None:
        """Moves the order to `to_status` if it is in one of `from_statuses`, recording an event.
        Returns the status it moved from, or None when it was in none of them (nothing changed)."""
        async with self._db.write() as session:
            current = await session.scalar(
                sa.select(_ORDERS.c.status).where(_ORDERS.c.id == order_id).with_for_update()
            )
            if current is None or Status(current) not in from_statuses:
                return None
            values: dict[str, object] = {"status": to_status.value, "updated_at": timestamps.now()}
            if payment_id is not None:
                values["payment_id"] = payment_id
            if needs_shipment is not None:
                values["needs_shipment"] = needs_shipment
            if reservation_id is not None:
                values["reservation_id"] = reservation_id
            if payment_unsettled is not None:
                values["payment_unsettled"] = payment_unsettled
            result = await session.execute(
                _ORDERS.update().where(_ORDERS.c.id == order_id, _ORDERS.c.status == current).values(**values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            await session.execute(_event(order_id, Status(current), to_status, note, actor))
            return Status(current)

    async def update(self, order_id: int, **values: str | bool) -> None:
        """Sets bookkeeping columns that no status depends on (reservation_id, shipment_id,
        needs_shipment, payment_unsettled, restock_due)."""
        allowed = {"reservation_id", "shipment_id", "needs_shipment", "payment_unsettled", "restock_due"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"only {sorted(allowed)} may be updated this way")
        async with self._db.write() as session:
            await session.execute(
                _ORDERS.update().where(_ORDERS.c.id == order_id).values(**values, updated_at=timestamps.now())
            )

    async def stuck(self, created_before: datetime, limit: int) -> list[OrderView]:
        """PENDING orders older than `created_before`: checkouts that never finished."""
        stmt = (
            sa.select(OrderRow)
            .where(OrderRow.status == Status.PENDING.value, OrderRow.created_at < created_before)
            .order_by(OrderRow.id)
            .limit(limit)
        )
        async with self._db.read() as session:
            return await self._views(session, list(await session.scalars(stmt)))

    async def unsettled(self, updated_before: datetime, limit: int) -> list[OrderView]:
        """Failed or cancelled orders that payments may still hold money for, left alone for a
        while after their last change (a cancelled checkout may still be refunding itself)."""
        stmt = (
            sa.select(OrderRow)
            .where(
                OrderRow.payment_unsettled.is_(True),
                OrderRow.status.in_([Status.FAILED.value, Status.CANCELLED.value]),
                OrderRow.updated_at < updated_before,
            )
            .order_by(OrderRow.id)
            .limit(limit)
        )
        async with self._db.read() as session:
            return await self._views(session, list(await session.scalars(stmt)))

    async def restock_due(self, limit: int) -> list[OrderView]:
        """Orders whose goods should be back on the shelf and are not yet."""
        stmt = sa.select(OrderRow).where(OrderRow.restock_due != "").order_by(OrderRow.id).limit(limit)
        async with self._db.read() as session:
            return await self._views(session, list(await session.scalars(stmt)))

    async def awaiting_shipment(self, limit: int) -> list[OrderView]:
        """Paid orders whose shipment could not be created yet."""
        stmt = (
            sa.select(OrderRow)
            .where(OrderRow.needs_shipment.is_(True), OrderRow.status == Status.PAID.value)
            .order_by(OrderRow.id)
            .limit(limit)
        )
        async with self._db.read() as session:
            return await self._views(session, list(await session.scalars(stmt)))

    async def note(self, order_id: int, status: Status, note: str, actor: str) -> None:
        """An event that records something without changing the status."""
        async with self._db.write() as session:
            await session.execute(_event(order_id, status, status, note, actor))

    async def status(self, order_id: int) -> Status | None:
        rows = await self._db.fetch(_STATUS, {"id": order_id})
        return Status(rows[0][0]) if rows else None

    async def get(self, order_id: int) -> OrderView | None:
        """A checkout reads its order several times: three Core statements, no ORM session. The
        lines never change after the order is created; the events may be read a moment after the
        order row (a transition between the two shows its event beside the older status)."""
        orders, lines, events = await self._db.fetch_each(*_ORDER_READS, params={"id": order_id})
        return OrderView(orders[0], lines, events) if orders else None

    async def by_key(self, user_id: int, key: str) -> OrderView | None:
        rows = await self._db.fetch(_ID_BY_KEY, {"user_id": user_id, "key": key})
        return await self.get(rows[0][0]) if rows else None

    async def page(
        self, user_id: int | None, status: Status | None, limit: int, before: int | None
    ) -> list[OrderView]:
        """Newest first, keyset-paged on id."""
        stmt = sa.select(OrderRow)
        if user_id is not None:
            stmt = stmt.where(OrderRow.user_id == user_id)
        if status is not None:
            stmt = stmt.where(OrderRow.status == status.value)
        if before is not None:
            stmt = stmt.where(OrderRow.id < before)
        async with self._db.read() as session:
            orders = list(await session.scalars(stmt.order_by(OrderRow.id.desc()).limit(limit)))
            return await self._views(session, orders)

    async def anonymize_user(self, user_id: int) -> int:
        """Detaches the user's orders from them (user 0, no address, no keys; events name no one).
        None while one of them is still checking out: that flow still acts for the user."""
        async with self._db.write() as session:
            orders = list(
                await session.execute(
                    sa.select(OrderRow.id, OrderRow.status)
                    .where(OrderRow.user_id == user_id)
                    .with_for_update()
                )
            )
            if any(status == Status.PENDING.value for _, status in orders):
                raise DomainError(OrderError.USER_CHECKING_OUT)
            ids = [order_id for order_id, _ in orders]
            if not ids:
                return 0
            await session.execute(
                sa.update(OrderRow)
                .where(OrderRow.id.in_(ids))
                .values(user_id=0, shipping_address="", idempotency_key=None, cart_version=None)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                sa.update(EventRow)
                .where(EventRow.order_id.in_(ids), EventRow.actor == f"user:{user_id}")
                .values(actor="user:deleted")
                .execution_options(synchronize_session=False)
            )
            return len(ids)

    async def has_purchased(self, user_id: int, product_id: int, statuses: Collection[Status]) -> bool:
        """Whether the user has an order in one of `statuses` with a line of the product."""
        stmt = (
            sa.select(OrderRow.id)
            .join(LineRow, LineRow.order_id == OrderRow.id)
            .where(
                OrderRow.user_id == user_id,
                OrderRow.status.in_([s.value for s in statuses]),
                LineRow.product_id == product_id,
            )
            .limit(1)
        )
        async with self._db.read() as session:
            return await session.scalar(stmt) is not None

    @staticmethod
    async def _cart_holder(
        session: AsyncSession, user_id: int, cart_version: str
    ) -> tuple[int, Status, str | None] | None:
        """The live order that claimed this cart version, if any: (id, status, idempotency key)."""
        row = (
            await session.execute(
                sa.select(OrderRow.id, OrderRow.status, OrderRow.idempotency_key).where(
                    OrderRow.user_id == user_id,
                    OrderRow.cart_version == cart_version,
                    OrderRow.status.not_in(RELEASED),
                )
            )
        ).first()
        return (row.id, Status(row.status), row.idempotency_key) if row is not None else None

    @staticmethod
    async def _id_by_key(session: AsyncSession, user_id: int, key: str) -> int | None:
        return await session.scalar(
            sa.select(OrderRow.id).where(OrderRow.user_id == user_id, OrderRow.idempotency_key == key)
        )

    async def _view(self, session: AsyncSession, order_id: int) -> OrderView:
        order = await session.scalar(
            sa.select(OrderRow).where(OrderRow.id == order_id).execution_options(populate_existing=True)
        )
        assert order is not None
        (view,) = await self._views(session, [order])
        return view

    @staticmethod
    async def _views(session: AsyncSession, orders: list[OrderRow]) -> list[OrderView]:
        if not orders:
            return []
        ids = [o.id for o in orders]
        lines: dict[int, list[LineRow]] = {i: [] for i in ids}
        events: dict[int, list[EventRow]] = {i: [] for i in ids}
        for line in await session.scalars(
            sa.select(LineRow).where(LineRow.order_id.in_(ids)).order_by(LineRow.id)
        ):
            lines[line.order_id].append(line)
        for event in await session.scalars(
            sa.select(EventRow).where(EventRow.order_id.in_(ids)).order_by(EventRow.id)
        ):
            events[event.order_id].append(event)
        return [OrderView(o, lines[o.id], events[o.id]) for o in orders]
