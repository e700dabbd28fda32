"""Looking for card data where it must never be: log output, every table of every service
database, every Redis key of the run, every file of a data folder.

Everything is read into `Haystack`s (where, text). The checks and why they are sound:

- Card number: the test makes a random, Luhn-valid 16-digit number, so it cannot be in the data
  by chance (1 in 10^14 per place it could start). It is looked for as it is and in each
  haystack's digits-only form, which also finds it written with spaces or dashes.
- CVC: 3-4 digits do appear by chance (ids, prices, ports, timestamps), so a plain search would
  be unsound. Two checks instead: (1) nothing is *named* like a CVC (a column, a log record
  field, or a word in any text: cvc, cvv, cvn, csc, security code); (2) the value: the test uses a
  4-digit CVC with a leading zero and looks for it only as a standalone number, not touching a
  letter, digit or any of `. : / _ -`. Nothing else writes a standalone zero-padded 4-digit
  number: integers (ids, counts, prices, ports) are never zero-padded, and the zero-padded parts
  of timestamps, UUIDs, hex and decimals all touch such a neighbour. A CVC that already appears
  that way before the checkout is not used (`pick_cvc`).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.logs import JsonFormatter

_CVC_NAME = re.compile(
    r"(?<![A-Za-z0-9])(cvc2?|cvv2?|cvn|csc|security[ _-]?code|card[ _-]?code)(?![A-Za-z0-9])", re.I
)
_NEIGHBOUR = r"0-9A-Za-z.:/_\-"


@dataclass(frozen=True)
class Haystack:
    where: str
    text: str


def random_card_number() -> str:
    """A Visa-shaped, Luhn-valid 16-digit number no test data holds."""
    body = "4" + "".join(random.choice("0123456789") for _ in range(14))
    total = 0
    for i, ch in enumerate(reversed(body)):
        digit = int(ch)
        if i % 2 == 0:  # every second digit from the right, counting the check digit to come
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def _standalone(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_NEIGHBOUR}]){re.escape(value)}(?![{_NEIGHBOUR}])")


def pick_cvc(before: Iterable[Haystack]) -> str:
    """A zero-led 4-digit CVC that nothing shows as a standalone number yet."""
    texts = [h.text for h in before]
    for _ in range(1000):
        cvc = f"0{random.randint(100, 999)}"
        pattern = _standalone(cvc)
        if not any(pattern.search(text) for text in texts):
            return cvc
    raise AssertionError("every candidate CVC is already in the data")


def card_number_found(haystacks: Iterable[Haystack], number: str) -> list[str]:
    return [h.where for h in haystacks if number in h.text or number in re.sub(r"\D", "", h.text)]


def cvc_found(haystacks: Iterable[Haystack], cvc: str) -> list[str]:
    """Where the CVC is named, or stands as a number of its own."""
    pattern = _standalone(cvc)
    return [h.where for h in haystacks if pattern.search(h.text) or _CVC_NAME.search(f"{h.where} {h.text}")]


# --- log output ------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Every record of every logger, formatted as the services write them (JSON with extras)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("test"))
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def haystacks(self) -> list[Haystack]:
        found = []
        for i, record in enumerate(self.records):
            where = f"log record {i} ({record.name})"
            # The formatted line, and every field name with its value (names are checked too).
            fields = " ".join(f"{name}={value!r}" for name, value in record.__dict__.items())
            found.append(Haystack(where, self.format(record)))
            found.append(Haystack(where, fields))
        return found


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Captures everything at DEBUG (SQL statements with their parameters included)."""
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    quiet = {
        name: logging.getLogger(name).level for name in ("sqlalchemy.engine", "aiohttp.access", "alembic")
    }
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


# --- storage ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def _exists(url: sa.URL) -> bool:
    return url.get_backend_name() != "sqlite" or Path(url.database or "").exists()


async def dump_databases(urls: Iterable[str]) -> list[Haystack]:
    """Every cell of every table (with its column names) of each database, SQLite or PostgreSQL."""
    found: list[Haystack] = []
    for url in sorted(set(urls)):
        parsed = make_url(url)
        if not _exists(parsed):
            continue  # a service without SQL storage
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:

                def tables(sync: sa.Connection) -> list[str]:
                    return list(sa.inspect(sync).get_table_names())

                for table in await conn.run_sync(tables):
                    result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                    columns = list(result.keys())
                    found.append(Haystack(f"{parsed.database}: {table} columns", " ".join(columns)))
                    for n, row in enumerate(result):
                        for column, value in zip(columns, row, strict=True):
                            found.append(
                                Haystack(f"{parsed.database}: {table}.{column} row {n}", _text(value))
                            )
        finally:
            await engine.dispose()
    return found


async def dump_redis(url: str, prefix: str) -> list[Haystack]:
    """Every key under `prefix` and everything it holds."""
    found: list[Haystack] = []
    client = aioredis.Redis.from_url(url)
    try:
        async for raw_key in client.scan_iter(match=f"{prefix}*", count=1000):
            key = _text(raw_key)
            kind = _text(await client.type(raw_key))
            value: Any
            if kind == "string":
                value = await client.get(raw_key)
            elif kind == "hash":
                value = await client.hgetall(raw_key)
            elif kind == "list":
                value = await client.lrange(raw_key, 0, -1)
            elif kind == "set":
                value = await client.smembers(raw_key)
            elif kind == "zset":
                value = await client.zrange(raw_key, 0, -1, withscores=True)
            elif kind == "stream":
                value = await client.xrange(raw_key)
            else:
                value = kind
            found.append(Haystack(f"redis {key}", f"{key} {value!r}"))
    finally:
        await client.aclose()
    return found


def read_files(folder: Path) -> list[Haystack]:
    """Every file under `folder` (logs, SQLite files and journals, Redis' append-only file).
    Binary files are fit for the card number check only (random bytes can spell 4 digits)."""
    return [
        Haystack(str(path), path.read_bytes().decode("latin-1"))
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
