"""Auth persistence: the users table (emails stored stripped and lowercased), the outbox of account
deletions (`deletion_steps`) and, in Redis, revoked tokens until they would have expired anyway."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database


class Base(DeclarativeBase):
    pass


class UserRole(enum.StrEnum):
    """Roles a user row can hold (the service role is never a user's)."""

    CUSTOMER = "customer"
    ADMIN = "admin"


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class DeletionStepRow(Base):
    """One service that still has to forget (or anonymise) a deleted user; done once done_at is set."""

    __tablename__ = "deletion_steps"
    __table_args__ = (sa.UniqueConstraint("user_id", "target", name="uq_deletion_steps_user_target"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    target: Mapped[str] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class AdminOutcome(enum.Enum):
    CREATED = "created"
    PROMOTED = "promoted"
    PRESENT = "present"


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, email: str, password_hash: str, role: UserRole) -> UserRow | None:
        """The new user, or None when the email is taken."""
        row = UserRow(email=email, password_hash=password_hash, role=role.value, created_at=timestamps.now())
        try:
            async with self._db.write() as session:
                session.add(row)
        except IntegrityError:
            return None
        return row

    async def get(self, user_id: int) -> UserRow | None:
        async with self._db.read() as session:
            return await session.get(UserRow, user_id)

    async def get_by_email(self, email: str) -> UserRow | None:
        async with self._db.read() as session:
            return await session.scalar(sa.select(UserRow).where(UserRow.email == email))

    async def list(self, limit: int, after: int | None, email: str) -> list[UserRow]:
        stmt = sa.select(UserRow)
        if after is not None:
            stmt = stmt.where(UserRow.id > after)
        if email:
            stmt = stmt.where(UserRow.email == email)
        async with self._db.read() as session:
            return list(await session.scalars(stmt.order_by(UserRow.id).limit(limit)))

    async def set_role(self, user_id: int, role: UserRole) -> UserRow | None:
        async with self._db.write() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                return None
            row.role = role.value
        return row

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._db.write() as session:
            await session.execute(
                sa.update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
            )

    async def delete(self, user_id: int, forget_in: Sequence[str]) -> bool:
        """Deletes the user and, in the same transaction, records one pending deletion step per
        service in `forget_in` (the outbox `Forgetter` works through). False: no such user."""
        at = timestamps.now()
        async with self._db.write() as session:
            result = await session.execute(sa.delete(UserRow).where(UserRow.id == user_id))
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            session.add_all(
                DeletionStepRow(
                    user_id=user_id,
                    target=target,
                    attempts=0,
                    next_attempt_at=at,
                    last_error="",
                    created_at=at,
                )
                for target in forget_in
            )
            return True

    async def ensure_admin(self, email: str, password_hash: str) -> AdminOutcome:
        """Makes `email` an admin: created with `password_hash` if missing, else only promoted
        (an existing password is never changed). Safe when several replicas start at once."""
        for _ in range(3):
            async with self._db.write() as session:
                row = await session.scalar(sa.select(UserRow).where(UserRow.email == email))
                if row is not None:
                    if row.role == UserRole.ADMIN:
                        return AdminOutcome.PRESENT
                    row.role = UserRole.ADMIN.value
                    return AdminOutcome.PROMOTED
            if await self.create(email, password_hash, UserRole.ADMIN) is not None:
                return AdminOutcome.CREATED
            # Someone created it between the look-up and the insert: look again.
        raise RuntimeError(f"could not create or promote admin {email}")


class DeletionSteps:
    """The outbox of account deletions: which services still have to forget which users.

    Several auth replicas may work through it at once: a step is claimed with a conditional update
    (`claim`) that pushes its next attempt past the time a call may take, so one replica runs it.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def due(self, now: datetime, limit: int) -> list[DeletionStepRow]:
        async with self._db.read() as session:
            return list(
                await session.scalars(
                    sa.select(DeletionStepRow)
                    .where(DeletionStepRow.done_at.is_(None), DeletionStepRow.next_attempt_at <= now)
                    .order_by(DeletionStepRow.next_attempt_at, DeletionStepRow.id)
                    .limit(limit)
                )
            )

    async def claim(self, step_id: int, now: datetime, until: datetime) -> bool:
        """Takes a due step for this replica until `until`; False when another one took it first."""
        async with self._db.write() as session:
            result = await session.execute(
                sa.update(DeletionStepRow)
                .where(
                    DeletionStepRow.id == step_id,
                    DeletionStepRow.done_at.is_(None),
                    DeletionStepRow.next_attempt_at <= now,
                )
                .values(next_attempt_at=until)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish(self, step_id: int) -> bool:
        """Marks the step done. When it was the user's last one, the deletion is complete and its
        steps go too, so nothing of the person stays here either: True then."""
        async with self._db.write() as session:
            user_id = await session.scalar(
                sa.select(DeletionStepRow.user_id).where(DeletionStepRow.id == step_id)
            )
            if user_id is None:
                return False
            # All of the user's steps, locked: steps finishing at once take turns, so the last one
            # sees the others done.
            mine = DeletionStepRow.user_id == user_id
            await session.execute(sa.select(DeletionStepRow.id).where(mine).with_for_update())
            await session.execute(
                sa.update(DeletionStepRow)
                .where(DeletionStepRow.id == step_id)
                .values(done_at=timestamps.now(), last_error="")
            )
            left = await session.scalar(
                sa.select(sa.func.count())
                .select_from(DeletionStepRow)
                .where(mine, DeletionStepRow.done_at.is_(None))
            )
            if left:
                return False
            await session.execute(sa.delete(DeletionStepRow).where(mine))
            return True

    async def retry_at(self, step_id: int, at: datetime, error: str) -> None:
        async with self._db.write() as session:
            await session.execute(
                sa.update(DeletionStepRow)
                .where(DeletionStepRow.id == step_id, DeletionStepRow.done_at.is_(None))
                .values(attempts=DeletionStepRow.attempts + 1, next_attempt_at=at, last_error=error[:500])
            )

    async def of_user(self, user_id: int) -> list[DeletionStepRow]:
        async with self._db.read() as session:
            return list(
                await session.scalars(
                    sa.select(DeletionStepRow)
                    .where(DeletionStepRow.user_id == user_id)
                    .order_by(DeletionStepRow.id)
                )
            )
