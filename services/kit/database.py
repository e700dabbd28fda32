"""The async SQLAlchemy engine of a service, with its migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and write transactions
start with BEGIN IMMEDIATE so two writers queue instead of failing on a lock upgrade; its hot
single-statement reads (`db.fetch`) run whole on a small pool of reader threads with plain sqlite3
connections. PostgreSQL goes through asyncpg. Use `db.read()` for queries, `db.fetch()` for hot
reads and `db.write()` for changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, create_engine, event, func, or_, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import Executable

from services.kit import telemetry

log = logging.getLogger(__name__)

ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"
_WRITE = "shop_write"
# A connection that runs each statement on its own, outside a transaction (see Database.fetch).
_AUTOCOMMIT = "shop_autocommit"
SQLITE_BUSY_SECONDS = 30
# Threads (and connections) that run a SQLite process's `fetch` reads; SQLite lets WAL readers run
# side by side, and runs each statement with the GIL released.
SQLITE_READERS = 4


@dataclass(frozen=True)
class Pool:
    """Connections one process may hold to a server database (SQLite files have no pool):
    `size` kept open, up to `overflow` more opened under load and closed when returned. Every
    replica of every service at its full pool must fit the server's max_connections."""

    size: int = 10
    overflow: int = 20


def _create_engine(url: str, pool: Pool) -> AsyncEngine:
    engine = _connect(url, pool)
    telemetry.trace_engine(engine.sync_engine)
    return engine


# SQLSTATE classes that say the server cannot take the work now, not that the work is wrong:
# connection exceptions, insufficient resources (too many connections, disk full) and operator
# intervention (shutting down, starting up). PostgreSQL codes; SQLite raises OperationalError.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def unavailable(exc: DBAPIError) -> bool:
    """The database could not serve the statement (connection lost or refused, server full or
    going down): the call answers UNAVAILABLE, which callers may retry, instead of INTERNAL."""
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _connect(url: str, pool: Pool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No ping before each checkout (a round trip per query). A connection the server dropped
        # fails its statement once: `fetch` reads again, anything else answers UNAVAILABLE (which
        # kit clients retry for reads); SQLAlchemy then discards every pooled connection older
        # than that failure. Recycling bounds the age
        # of a connection that idle-timeouts along the way could cut silently.
        return create_async_engine(url, pool_size=pool.size, max_overflow=pool.overflow, pool_recycle=1800)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_AUTOCOMMIT):
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")

    return engine


def _sqlite_reader(url: str) -> Engine | None:
    """A plain (thread-bound, not asyncio) engine on the same SQLite file, for `fetch`: aiosqlite
    hands every cursor call to its connection's thread and back (a statement is three or four
    round trips through the event loop's self-pipe, most of a primary-key read's CPU), where a read
    run whole on a reader thread costs one. None for an in-memory database (another connection
    would see another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    engine = create_engine(
        parsed.set(drivername="sqlite"),
        pool_size=SQLITE_READERS,
        max_overflow=0,
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # each statement on its own, as `fetch` promises
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    telemetry.trace_engine(engine)
    return engine


class Database:
    def __init__(self, url: str, pool: Pool = Pool()) -> None:
        self.url = url
        self.engine = _create_engine(url, pool)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Single-statement reads need no transaction: PostgreSQL skips BEGIN and ROLLBACK (two round
        # trips), SQLite runs the SELECT in its own implicit one.
        self._statements = (
            self.engine.execution_options(**{_AUTOCOMMIT: True})
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite allows one writer at a time; a writer that finds the lock taken sleeps in SQLite's
        # busy handler (up to 100 ms a turn), which under contention costs far more than the
        # writes. Writers of this process queue here instead and reach SQLite one at a time.
        self._write_turn = asyncio.Lock() if self.is_sqlite else None
        self._reader = _sqlite_reader(url) if self.is_sqlite else None
        self._reader_threads = (
            ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="sqlite-read") if self._reader else None
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def fetch(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """The rows of one read statement (Core, no ORM session), run on its own outside a
        transaction: the cheapest read, for hot single-query paths. Several queries that must
        agree with each other belong in `read()`. A hot statement is best built once, with bound
        `params`: building one per call costs more CPU in SQLAlchemy than running it."""
        return (await self.fetch_each(statement, params=params))[0]

    async def fetch_each(
        self, *statements: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Sequence[Any]]:
        """The rows of each statement (all given the same bound `params`), run one after the
        other on one connection as `fetch` runs one: each sees the data as of its own start (a
        row and what hangs off it may be read either side of a write; use `read()` where that
        matters)."""
        try:
            return await self._fetch(statements, params)
        except DBAPIError as exc:
            # The server dropped the pooled connection (restart, failover, idle cut). SQLAlchemy has
            # discarded it and the pooled ones older than it; reads on their own are safe to ask again.
            if not exc.connection_invalidated:
                raise
            log.warning("database connection lost; reading again", extra={"error": str(exc)})
        return await self._fetch(statements, params)

    async def _fetch(
        self, statements: Sequence[Executable], params: Mapping[str, Any] | None
    ) -> list[Sequence[Any]]:
        if self._reader is not None and self._reader_threads is not None:
            # The caller's context goes along: the statements' spans are children of the RPC's.
            run = contextvars.copy_context().run
            return await asyncio.get_running_loop().run_in_executor(
                self._reader_threads, run, _fetch_on, self._reader, statements, params
            )
        async with self.statements() as conn:
            return [(await conn.execute(statement, params)).all() for statement in statements]

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection whose statements each run on their own, outside a transaction, as
        `fetch_each` runs them: for a read of several statements that need not agree exactly
        (no ORM session, no BEGIN/ROLLBACK)."""
        async with self._statements.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and rolls back on any error."""
        async with self._turn(), self._sessions() as session:
            # Procuring the connection begins the transaction, with the write flag already set.
            await session.connection(execution_options={_WRITE: True})
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """This process's turn to write (SQLite only). Waits as long as SQLite's busy timeout
        would have, then fails the same way, so a write nested in another cannot hang forever."""
        if self._write_turn is None:
            yield
            return
        try:
            async with asyncio.timeout(SQLITE_BUSY_SECONDS):
                await self._write_turn.acquire()
        except TimeoutError:
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked")) from None
        try:
            yield
        finally:
            self._write_turn.release()

    async def ping(self) -> None:
        async with self.statements() as conn:  # no BEGIN/ROLLBACK around the probe
            await conn.execute(text("SELECT 1"))

    async def migrate(self, service_name: str, versions_dir: Path) -> None:
        """Brings the schema to the newest revision in the service's migrations folder."""
        config = Config()
        config.set_main_option("script_location", str(ALEMBIC_DIR))
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", str(versions_dir))
        config.attributes["version_table"] = f"alembic_version_{service_name}"

        def upgrade(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)
        log.info("schema up to date", extra={"versions": str(versions_dir)})

    async def close(self) -> None:
        if self._reader is not None and self._reader_threads is not None:
            self._reader_threads.shutdown(wait=True)
            self._reader.dispose()
        await self.engine.dispose()


def _fetch_on(
    engine: Engine, statements: Sequence[Executable], params: Mapping[str, Any] | None
) -> list[Sequence[Any]]:
    with engine.connect() as conn:
        return [conn.execute(statement, params).all() for statement in statements]


async def added(session: AsyncSession, row: object) -> bool:
    """Inserts the row in a savepoint: False (and the transaction goes on) when it clashes with a
    unique key, such as a concurrent insert of the same thing."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern written with `escape="\\"`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_text(query: str, *columns: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Any of `columns` contains `query`, ignoring case; % and _ in it are plain characters."""
    pattern = f"%{escape_like(query.lower())}%"
    return or_(*(func.lower(column).like(pattern, escape="\\") for column in columns))
