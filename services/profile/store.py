"""Profile persistence: one profile row per user and their saved addresses.

Every change to a user's address book runs in one transaction that first locks the user's profile
row (`_lock_user`), so the address limit and the one-default rule hold under concurrent requests;
a partial unique index (one default per user) backs the rule up in the schema.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit import timestamps
from services.kit.database import Database, contains_text

from .domain import MAX_ADDRESSES, PostalAddress


class Base(DeclarativeBase):
    pass


class ProfileRow(Base):
    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(20), default="")
    marketing_opt_in: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    locale: Mapped[str] = mapped_column(sa.String(35), default="")
    currency: Mapped[str] = mapped_column(sa.String(3), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class AddressRow(Base):
    __tablename__ = "addresses"
    # Address ids leave the service (orders may keep them): never reuse one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    label: Mapped[str] = mapped_column(sa.String(50), default="")
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    line1: Mapped[str] = mapped_column(sa.String(200))
    line2: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(20))
    country: Mapped[str] = mapped_column(sa.String(2))
    phone: Mapped[str] = mapped_column(sa.String(20), default="")
    is_default: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    @property
    def postal(self) -> PostalAddress:
        return PostalAddress(
            name=self.name,
            line1=self.line1,
            line2=self.line2,
            city=self.city,
            region=self.region,
            postal_code=self.postal_code,
            country=self.country,
            phone=self.phone,
        )


_DEFAULT_ADDRESS = sa.select(*AddressRow.__table__.columns).where(
    AddressRow.user_id == sa.bindparam("user_id"), AddressRow.is_default
)


@dataclass(frozen=True)
class ProfileChanges:
    display_name: str | None = None
    phone: str | None = None
    marketing_opt_in: bool | None = None
    locale: str | None = None
    currency: str | None = None


class CreateOutcome(enum.Enum):
    NO_PROFILE = enum.auto()
    TOO_MANY = enum.auto()


def _ordered(rows: list[AddressRow]) -> list[AddressRow]:
    """The default address first, then newest first (ids grow with creation)."""
    return sorted(rows, key=lambda r: (not r.is_default, -r.id))


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- profiles --------------------------------------------------------------------------------

    async def get(self, user_id: int) -> ProfileRow | None:
        async with self._db.read() as session:
            return await session.get(ProfileRow, user_id)

    async def create_if_missing(self, user_id: int, email: str) -> None:
        """Stores an empty profile for the user unless one exists (a concurrent create is fine)."""
        at = timestamps.now()
        values = {
            "user_id": user_id,
            "email": email,
            "display_name": "",
            "phone": "",
            "marketing_opt_in": False,
            "locale": "",
            "currency": "",
            "created_at": at,
            "updated_at": at,
        }
        async with self._db.write() as session:
            if self._db.is_sqlite:
                await session.execute(
                    sqlite.insert(ProfileRow)
                    .values(values)
                    .on_conflict_do_nothing(index_elements=["user_id"])
                )
            else:
                await session.execute(
                    postgresql.insert(ProfileRow)
                    .values(values)
                    .on_conflict_do_nothing(index_elements=["user_id"])
                )

    async def update(self, user_id: int, changes: ProfileChanges) -> ProfileRow | None:
        values = {k: v for k, v in changes.__dict__.items() if v is not None}
        async with self._db.write() as session:
            row = await self._lock_user(session, user_id)
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = timestamps.now()
        return row

    async def search(self, query: str, limit: int, after: int | None) -> list[ProfileRow]:
        stmt = sa.select(ProfileRow)
        if after is not None:
            stmt = stmt.where(ProfileRow.user_id > after)
        if query:
            stmt = stmt.where(contains_text(query, ProfileRow.email, ProfileRow.display_name))
        async with self._db.read() as session:
            return list(await session.scalars(stmt.order_by(ProfileRow.user_id).limit(limit)))

    async def delete_user_data(self, user_id: int) -> tuple[int, bool]:
        """Removes the user's addresses and profile: (addresses deleted, whether a profile was)."""
        async with self._db.write() as session:
            await self._lock_user(session, user_id)
            addresses = await session.execute(sa.delete(AddressRow).where(AddressRow.user_id == user_id))
            profile = await session.execute(sa.delete(ProfileRow).where(ProfileRow.user_id == user_id))
            return int(addresses.rowcount), bool(profile.rowcount)  # type: ignore[attr-defined]

    # --- addresses -------------------------------------------------------------------------------

    async def addresses(self, user_id: int) -> list[AddressRow]:
        """All of the user's addresses (at most MAX_ADDRESSES), the default first, then newest first."""
        async with self._db.read() as session:
            rows = await session.scalars(sa.select(AddressRow).where(AddressRow.user_id == user_id))
            return _ordered(list(rows))

    async def default_address(self, user_id: int) -> AddressRow | None:
        """Read by every checkout: one Core statement, no ORM session; the row comes back as a
        detached AddressRow (nothing to write through it)."""
        rows = await self._db.fetch(_DEFAULT_ADDRESS, {"user_id": user_id})
        return AddressRow(**rows[0]._asdict()) if rows else None  # type: ignore[attr-defined]

    async def create_address(
        self, user_id: int, label: str, address: PostalAddress, make_default: bool
    ) -> AddressRow | CreateOutcome:
        at = timestamps.now()
        async with self._db.write() as session:
            if await self._lock_user(session, user_id) is None:
                return CreateOutcome.NO_PROFILE
            count = await session.scalar(
                sa.select(sa.func.count()).select_from(AddressRow).where(AddressRow.user_id == user_id)
            )
            if (count or 0) >= MAX_ADDRESSES:
                return CreateOutcome.TOO_MANY
            # The first address is the default whatever the caller asked.
            is_default = make_default or not count
            if is_default:
                await self._clear_default(session, user_id)
            row = AddressRow(
                user_id=user_id,
                label=label,
                **address.__dict__,
                is_default=is_default,
                created_at=at,
                updated_at=at,
            )
            session.add(row)
        return row

    async def update_address(
        self, user_id: int, address_id: int, label: str | None, address: PostalAddress | None
    ) -> AddressRow | None:
        async with self._db.write() as session:
            await self._lock_user(session, user_id)
            row = await self._owned(session, user_id, address_id)
            if row is None:
                return None
            if label is not None:
                row.label = label
            if address is not None:
                for key, value in address.__dict__.items():
                    setattr(row, key, value)
            row.updated_at = timestamps.now()
        return row

    async def delete_address(self, user_id: int, address_id: int) -> bool:
        """Deletes one address; when it was the default, the oldest remaining one becomes it."""
        async with self._db.write() as session:
            await self._lock_user(session, user_id)
            row = await self._owned(session, user_id, address_id)
            if row is None:
                return False
            was_default = row.is_default
            await session.execute(sa.delete(AddressRow).where(AddressRow.id == row.id))
            if was_default:
                oldest = await session.scalar(
                    sa.select(AddressRow.id)
                    .where(AddressRow.user_id == user_id)
                    .order_by(AddressRow.created_at, AddressRow.id)
                    .limit(1)
                )
                if oldest is not None:
                    await session.execute(
                        sa.update(AddressRow).where(AddressRow.id == oldest).values(is_default=True)
                    )
            return True

    async def set_default(self, user_id: int, address_id: int) -> AddressRow | None:
        async with self._db.write() as session:
            await self._lock_user(session, user_id)
            row = await self._owned(session, user_id, address_id)
            if row is None:
                return None
            if not row.is_default:
                # Clear first: the partial unique index allows one default per user at any moment.
                await self._clear_default(session, user_id)
                row.is_default = True
                row.updated_at = timestamps.now()
        return row

    # --- helpers ---------------------------------------------------------------------------------

    async def _lock_user(self, session: AsyncSession, user_id: int) -> ProfileRow | None:
        """The user's profile row, locked until the transaction ends (SQLite: the whole database is)."""
        return await session.scalar(
            sa.select(ProfileRow).where(ProfileRow.user_id == user_id).with_for_update()
        )

    async def _owned(self, session: AsyncSession, user_id: int, address_id: int) -> AddressRow | None:
        return await session.scalar(
            sa.select(AddressRow).where(AddressRow.id == address_id, AddressRow.user_id == user_id)
        )

    async def _clear_default(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(
            sa.update(AddressRow)
            .where(AddressRow.user_id == user_id, AddressRow.is_default)
            .values(is_default=False)
            .execution_options(synchronize_session=False)
        )
        await session.flush()
