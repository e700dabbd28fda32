"""The database URL forms people are given, turned into what the async engine needs.

Hosting providers and secrets hand out `postgres://` or `postgresql://user@host/db` (libpq's form,
often with `?sslmode=require`); SQLAlchemy would pick a synchronous driver for those. Every form
below becomes the async driver's: PostgreSQL through asyncpg, SQLite through aiosqlite.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_POSTGRES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}
_POSTGRES |= {"postgresql+pg8000", "postgres+asyncpg"}
_SQLITE = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
# libpq's sslmode values; asyncpg takes the same words as its `ssl` argument.
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class DatabaseUrlError(ValueError):
    """A URL that names no database this platform can use; the message says why (never the password)."""


def async_database_url(url: str) -> str:
    """`url` with the async driver of its database, as a string SQLAlchemy's async engine takes."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise DatabaseUrlError("not a database URL (expected e.g. postgresql://user@host/db)") from None
    except ValueError as exc:  # a port that is not a number
        raise DatabaseUrlError(f"not a database URL ({exc})") from None
    scheme = parsed.drivername.lower()
    if scheme in _POSTGRES:
        return _postgres(parsed).render_as_string(hide_password=False)
    if scheme in _SQLITE:
        if parsed.host:
            raise DatabaseUrlError(
                "a SQLite URL has no host: sqlite:///relative.db or sqlite:////absolute.db"
            )
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database {parsed.drivername!r} (PostgreSQL or SQLite)")


def _postgres(parsed: URL) -> URL:
    query = dict(parsed.query)
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        if sslmode not in _SSL_MODES:
            raise DatabaseUrlError(f"sslmode={sslmode!r} is not one of {', '.join(sorted(_SSL_MODES))}")
        query.setdefault("ssl", sslmode)
    return parsed.set(drivername="postgresql+asyncpg", query=query)


def safe(url: str) -> str:
    """`url` for a message: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable URL)"
