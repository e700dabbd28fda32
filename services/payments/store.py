"""Payments persistence: payments, their events, idempotency keys, and card tokens.

Every money-moving request first *claims* its idempotency key: one transaction inserts the key
(unique) and makes the request's state change (a new PENDING payment, a refund reservation, a
status hand-over). A concurrent request with the same key blocks on, or fails on, the unique key
and then reads the first request's record instead, so the provider is called once per key.
After the provider answers, the claim is either *settled* (kept, marked completed: replays get
the same answer) or *released* (state change undone, key deleted: a retry may try again).

A single-use card token is claimed in the same transaction as a new payment's key (a conditional
UPDATE: unused and unexpired), so concurrent charges with one token make at most one payment.
A released charge (the provider never answered) gives its token back for the retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database
from services.kit.errors import DomainError, invalid

from . import domain
from .domain import Behaviour, Operation, PaymentsError, Status, TokenizedCard

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    order_reference: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    refunded_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    status: Mapped[str] = mapped_column(sa.String(32))
    provider: Mapped[str] = mapped_column(sa.String(50))
    # The provider's id of the authorization, needed to capture, void or refund it.
    provider_reference: Mapped[str] = mapped_column(sa.String(200), default="")
    card_last4: Mapped[str] = mapped_column(sa.String(4), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class EventRow(Base):
    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    payment_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("payments.id"))
    type: Mapped[str] = mapped_column(sa.String(32))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    provider_reference: Mapped[str] = mapped_column(sa.String(200), default="")
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class IdempotencyRow(Base):
    __tablename__ = "idempotency"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    # No foreign key: a charge claims its key before its payment row is written.
    payment_id: Mapped[str] = mapped_column(sa.String(36))
    operation: Mapped[str] = mapped_column(sa.String(16))
    fingerprint: Mapped[str] = mapped_column(sa.String(500))
    # The amount the request moved (refunds reserve it when they claim the key).
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    completed: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class CardTokenRow(Base):
    """What the tokenization endpoint keeps of a card: never its number or CVC."""

    __tablename__ = "card_tokens"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    brand: Mapped[str] = mapped_column(sa.String(20))
    last4: Mapped[str] = mapped_column(sa.String(4))
    exp_month: Mapped[int] = mapped_column(sa.Integer())
    exp_year: Mapped[int] = mapped_column(sa.Integer())
    # What the test provider does when the token is charged (chosen by the card number).
    behaviour: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # The payment that used it (no foreign key: the claim comes with the payment's own insert).
    payment_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)


def _card(row: CardTokenRow) -> TokenizedCard:
    return TokenizedCard(
        row.token, row.brand, row.last4, row.exp_month, row.exp_year, Behaviour(row.behaviour)
    )


@dataclass(frozen=True)
class KeyRecord:
    key: str
    payment_id: str
    operation: str
    fingerprint: str
    amount_minor: int
    completed: bool


@dataclass(frozen=True)
class Event:
    type: str
    amount_minor: int
    provider_reference: str = ""
    message: str = ""


@dataclass(frozen=True)
class NewPayment:
    id: str
    order_reference: str
    user_id: int
    amount_minor: int
    currency: str
    provider: str
    card_last4: str


@dataclass(frozen=True)
class PaymentView:
    payment: PaymentRow
    events: list[EventRow]


_PAYMENTS = cast(sa.Table, PaymentRow.__table__)
_EVENTS = cast(sa.Table, EventRow.__table__)
_KEYS = cast(sa.Table, IdempotencyRow.__table__)


def _record(row: IdempotencyRow) -> KeyRecord:
    return KeyRecord(row.key, row.payment_id, row.operation, row.fingerprint, row.amount_minor, row.completed)


Prepare = Callable[[AsyncSession], Awaitable[int]]


class PaymentsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def anonymize_user(self, user_id: int) -> int:
        """Detaches the user's payments from them (user 0); amounts and events stay for the books."""
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(PaymentRow)
                .where(PaymentRow.user_id == user_id)
                .values(user_id=0)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- claiming keys ---------------------------------------------------------------------

    async def _claim(
        self, key: str, operation: Operation, fingerprint: str, payment_id: str, prepare: Prepare
    ) -> tuple[KeyRecord, bool]:
        """(record, True) when this request now owns `key`; (earlier record, False) otherwise."""
        try:
            async with self._db.write() as session:
                existing = await session.get(IdempotencyRow, key)
                if existing is not None:
                    return _record(existing), False
                claim = IdempotencyRow(
                    key=key,
                    payment_id=payment_id,
                    operation=operation.value,
                    fingerprint=fingerprint,
                    amount_minor=0,
                    completed=False,
                    created_at=timestamps.now(),
                )
                session.add(claim)
                # The unique key first: a concurrent claim waits here (PostgreSQL) or never gets
                # this far (SQLite's BEGIN IMMEDIATE), before anything else is touched.
                await session.flush()
                claim.amount_minor = await prepare(session)
                return _record(claim), True
        except IntegrityError:
            earlier = await self.key(key)
            if earlier is None:
                raise
            return earlier, False

    async def claim_new_payment(
        self,
        key: str,
        operation: Operation,
        fingerprint: str,
        new: NewPayment,
        single_use_token: str | None,
        now: datetime,
    ) -> tuple[KeyRecord, bool]:
        """Claims the key with a new PENDING payment and, when given, uses up the card token."""

        async def prepare(session: AsyncSession) -> int:
            if single_use_token is not None:
                await self._use_token(session, single_use_token, new.id, now)
            at = timestamps.now()
            session.add(
                PaymentRow(
                    id=new.id,
                    order_reference=new.order_reference,
                    user_id=new.user_id,
                    amount_minor=new.amount_minor,
                    currency=new.currency,
                    refunded_minor=0,
                    status=Status.PENDING.value,
                    provider=new.provider,
                    provider_reference="",
                    card_last4=new.card_last4,
                    created_at=at,
                    updated_at=at,
                )
            )
            return new.amount_minor

        return await self._claim(key, operation, fingerprint, new.id, prepare)

    async def claim_refund(
        self, key: str, fingerprint: str, payment_id: str, requested: int | None, currency: str | None
    ) -> tuple[KeyRecord, bool]:
        """Reserves the refund's amount on the payment (never more than captured - refunded)."""

        async def prepare(session: AsyncSession) -> int:
            row = await self._locked(session, payment_id)
            if currency is not None and currency != row.currency:
                raise invalid(f"refund currency must be the payment's currency {row.currency}")
            if row.status not in domain.REFUNDABLE:
                raise DomainError(
                    PaymentsError.WRONG_STATUS, f"payment cannot be refunded in status {row.status}"
                )
            amount = domain.refund_amount(requested, row.amount_minor, row.refunded_minor)
            new_total = PaymentRow.refunded_minor + amount
            result = await session.execute(
                sa.update(PaymentRow)
                .where(
                    PaymentRow.id == payment_id,
                    PaymentRow.status.in_([s.value for s in domain.REFUNDABLE]),
                    new_total <= PaymentRow.amount_minor,
                )
                .values(
                    refunded_minor=new_total,
                    status=sa.case(
                        (new_total >= PaymentRow.amount_minor, Status.REFUNDED.value),
                        else_=Status.PARTIALLY_REFUNDED.value,
                    ),
                    updated_at=timestamps.now(),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise DomainError(PaymentsError.REFUND_EXCEEDS)
            return amount

        return await self._claim(key, Operation.REFUND, fingerprint, payment_id, prepare)

    async def claim_transition(
        self,
        key: str,
        operation: Operation,
        fingerprint: str,
        payment_id: str,
        from_status: Status,
        via_status: Status,
        verb: str,
    ) -> tuple[KeyRecord, bool]:
        """Hands an AUTHORIZED payment to one capture or void (CAPTURING / VOIDING meanwhile)."""

        async def prepare(session: AsyncSession) -> int:
            row = await self._locked(session, payment_id)
            if row.status != from_status:
                raise DomainError(
                    PaymentsError.WRONG_STATUS, f"payment cannot be {verb} in status {row.status}"
                )
            result = await session.execute(
                sa.update(PaymentRow)
                .where(PaymentRow.id == payment_id, PaymentRow.status == from_status.value)
                .values(status=via_status.value, updated_at=timestamps.now())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise DomainError(PaymentsError.WRONG_STATUS, f"payment cannot be {verb} now")
            return row.amount_minor

        return await self._claim(key, operation, fingerprint, payment_id, prepare)

    @staticmethod
    async def _use_token(session: AsyncSession, token: str, payment_id: str, now: datetime) -> None:
        """The one place a card token is used up: unused and unexpired, or an error saying which."""
        result = await session.execute(
            sa.update(CardTokenRow)
            .where(
                CardTokenRow.token == token,
                CardTokenRow.used_at.is_(None),
                CardTokenRow.expires_at > now,
            )
            .values(used_at=now, payment_id=payment_id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return
        row = await session.get(CardTokenRow, token)
        if row is None:
            raise DomainError(PaymentsError.UNKNOWN_TOKEN)
        if row.used_at is not None:
            raise DomainError(PaymentsError.TOKEN_USED)
        raise DomainError(PaymentsError.TOKEN_EXPIRED)

    @staticmethod
    async def _locked(session: AsyncSession, payment_id: str) -> PaymentRow:
        row = await session.scalar(sa.select(PaymentRow).where(PaymentRow.id == payment_id).with_for_update())
        if row is None:
            raise DomainError(PaymentsError.PAYMENT_NOT_FOUND, f"payment {payment_id} not found")
        return row

    # --- settling and releasing --------------------------------------------------------------

    async def settle(
        self,
        key: str,
        payment_id: str,
        events: Sequence[Event],
        *,
        status: Status | None = None,
        provider_reference: str | None = None,
        card_last4: str | None = None,
        if_unfinished: bool = False,
    ) -> bool:
        """The provider answered for good: record it and keep the key, so replays answer alike.
        `if_unfinished`: only while the key is still claimed and unfinished (False otherwise)."""
        values: dict[str, object] = {"updated_at": timestamps.now()}
        if status is not None:
            values["status"] = status.value
        if provider_reference is not None:
            values["provider_reference"] = provider_reference
        if card_last4:
            values["card_last4"] = card_last4
        async with self._db.write() as session:
            if if_unfinished and not await self._unfinished(session, key):
                return False
            await session.execute(sa.update(_PAYMENTS).where(_PAYMENTS.c.id == payment_id).values(**values))
            await self._add_events(session, payment_id, events)
            await session.execute(sa.update(_KEYS).where(_KEYS.c.key == key).values(completed=True))
            return True

    async def release(
        self,
        key: str,
        payment_id: str,
        events: Sequence[Event],
        *,
        status: Status,
        if_unfinished: bool = False,
    ) -> bool:
        """The request failed without a definite answer: undo its state, free the key for a retry.
        `if_unfinished`: only while the key is still claimed and unfinished (False otherwise)."""
        async with self._db.write() as session:
            if if_unfinished and not await self._unfinished(session, key):
                return False
            await session.execute(
                sa.update(PaymentRow)
                .where(PaymentRow.id == payment_id)
                .values(status=status.value, updated_at=timestamps.now())
            )
            await self._add_events(session, payment_id, events)
            await session.execute(sa.delete(IdempotencyRow).where(IdempotencyRow.key == key))
            if status is Status.FAILED:
                # The provider never took the money: the retry the freed key allows may use the
                # token again (while it has not expired).
                await session.execute(
                    sa.update(CardTokenRow)
                    .where(CardTokenRow.payment_id == payment_id)
                    .values(used_at=None, payment_id=None)
                )
            return True

    @staticmethod
    async def _unfinished(session: AsyncSession, key: str) -> bool:
        completed = await session.scalar(
            sa.select(_KEYS.c.completed).where(_KEYS.c.key == key).with_for_update()
        )
        return completed is False

    async def release_refund(
        self,
        key: str,
        payment_id: str,
        amount_minor: int,
        events: Sequence[Event],
        *,
        if_unfinished: bool = False,
    ) -> bool:
        """The refund failed: give back the amount it reserved and free its key."""
        new_total = PaymentRow.refunded_minor - amount_minor
        async with self._db.write() as session:
            if if_unfinished and not await self._unfinished(session, key):
                return False
            await session.execute(
                sa.update(PaymentRow)
                .where(PaymentRow.id == payment_id)
                .values(
                    refunded_minor=new_total,
                    status=sa.case(
                        (new_total <= 0, Status.CAPTURED.value), else_=Status.PARTIALLY_REFUNDED.value
                    ),
                    updated_at=timestamps.now(),
                )
            )
            await self._add_events(session, payment_id, events)
            await session.execute(sa.delete(IdempotencyRow).where(IdempotencyRow.key == key))
            return True

    @staticmethod
    async def _add_events(session: AsyncSession, payment_id: str, events: Sequence[Event]) -> None:
        if not events:
            return
        at = timestamps.now()
        # One Core INSERT for them all, not ORM objects for the unit of work to flush.
        await session.execute(
            sa.insert(_EVENTS),
            [
                {
                    "payment_id": payment_id,
                    "type": event.type,
                    "amount_minor": event.amount_minor,
                    "provider_reference": event.provider_reference,
                    "message": event.message[:500],
                    "created_at": at,
                }
                for event in events
            ],
        )

    # --- card tokens -------------------------------------------------------------------------

    async def add_token(self, card: TokenizedCard, now: datetime, expires_at: datetime) -> None:
        async with self._db.write() as session:
            session.add(
                CardTokenRow(
                    token=card.token,
                    brand=card.brand,
                    last4=card.last4,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    behaviour=card.behaviour.value,
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                    payment_id=None,
                )
            )

    async def token(self, token: str) -> TokenizedCard | None:
        """The card a token stands for, used or not (whether it may still pay is decided when
        a payment claims it)."""
        async with self._db.read() as session:
            row = await session.get(CardTokenRow, token)
            return _card(row) if row is not None else None

    # --- reading -----------------------------------------------------------------------------

    async def unfinished(self, claimed_before: datetime, limit: int) -> list[tuple[KeyRecord, PaymentRow]]:
        """Keys claimed before `claimed_before` whose provider call never got recorded, oldest first."""
        stmt = (
            sa.select(IdempotencyRow, PaymentRow)
            .join(PaymentRow, PaymentRow.id == IdempotencyRow.payment_id)
            .where(IdempotencyRow.completed.is_(False), IdempotencyRow.created_at < claimed_before)
            .order_by(IdempotencyRow.created_at)
            .limit(limit)
        )
        async with self._db.read() as session:
            return [(_record(key), payment) for key, payment in (await session.execute(stmt)).all()]

    async def key(self, key: str) -> KeyRecord | None:
        async with self._db.read() as session:
            row = await session.get(IdempotencyRow, key)
            return _record(row) if row is not None else None

    async def get(self, payment_id: str) -> PaymentView | None:
        async with self._db.read() as session:
            row = await session.get(PaymentRow, payment_id)
            if row is None:
                return None
            events = await session.scalars(
                sa.select(EventRow).where(EventRow.payment_id == payment_id).order_by(EventRow.id)
            )
            return PaymentView(row, list(events))

    async def list(
        self, order_reference: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[PaymentView]:
        """Newest first, keyset-paged on (created_at, id)."""
        stmt = sa.select(PaymentRow)
        if order_reference:
            stmt = stmt.where(PaymentRow.order_reference == order_reference)
        if after is not None:
            at, last_id = after
            stmt = stmt.where(
                sa.or_(
                    PaymentRow.created_at < at,
                    sa.and_(PaymentRow.created_at == at, PaymentRow.id < last_id),
                )
            )
        stmt = stmt.order_by(PaymentRow.created_at.desc(), PaymentRow.id.desc()).limit(limit)
        async with self._db.read() as session:
            rows = list(await session.scalars(stmt))
            if not rows:
                return []
            events = await session.scalars(
                sa.select(EventRow).where(EventRow.payment_id.in_([r.id for r in rows])).order_by(EventRow.id)
            )
            by_payment: dict[str, list[EventRow]] = {r.id: [] for r in rows}
            for event in events:
                by_payment[event.payment_id].append(event)
            return [PaymentView(r, by_payment[r.id]) for r in rows]
