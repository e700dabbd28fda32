"""Deleting an account leaves nothing of the person in any service: once the deletion is complete
(auth's outbox holds no step for the user), no table of any service has a row naming the user or
holding their email, name or address, and no Redis key names them. Activity recorded just before
the deletion is gone too, and the deleted account's token attributes nothing afterwards.

Two things stay by design and are left out of the scan: auth's revocation entries for the account
id (they refuse its tokens, and expire with the last token it could have issued), and orders,
payments and shipments, which stay for the books detached from the person (user 0, no address).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.activity import ACTIVITY
from gateway.conftest import Api, User, new_product
from services.auth.store import DeletionSteps
from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from services.kit.config import SERVICE_PORTS
from services.kit.database import Database
from tests.support.harness import Platform
from tests.support.polling import eventually

# Every service of the platform, from the one table of them.
SERVICES = tuple(SERVICE_PORTS)
# Auth's revocation list (services.kit.revocation): refuses the deleted account's tokens.
REVOCATION_KEYS = re.compile(r"auth:(revoked-user|user-gen):")


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in SERVICES:
        await platform.start(name)
        await asyncio.wait_for(platform.channel(name).channel_ready(), timeout=10)


async def _rows_naming(url: str, user_id: int, needles: list[str]) -> list[str]:
    """Every row of every table at `url` with the user's id in a user_id column, a value
    containing one of `needles`, or an actor string naming the user."""
    actor = re.compile(rf"\buser:{user_id}\b")
    found: list[str] = []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            for table in tables:
                result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                for row in result.mappings():
                    for column, value in row.items():
                        text = "" if value is None else str(value)
                        if (
                            (column == "user_id" and value == user_id)
                            or any(needle in text for needle in needles)
                            or actor.search(text)
                        ):
                            found.append(f"{table}.{column}: {text[:80]}")
    finally:
        await engine.dispose()
    return found


async def _keys_naming(platform: Platform, user_id: int, needles: list[str]) -> list[str]:
    client = kit_redis.connect(platform.redis_url)
    found: list[str] = []
    try:
        async for key in client.scan_iter(match=f"{platform.redis_prefix}*", count=1000):
            if REVOCATION_KEYS.search(key):
                continue
            if str(user_id) in key.removeprefix(platform.redis_prefix).split(":"):
                found.append(key)
            kind = await client.type(key)
            if kind == "stream":
                entries: Any = await client.xrange(key)
                for entry_id, fields in entries:
                    if stream.decode(fields).user_id == user_id:
                        found.append(f"{key} {entry_id}: {fields}")
    finally:
        await client.aclose()
    return found


async def _stream_consumed(platform: Platform) -> bool:
    client = kit_redis.connect(platform.redis_url)
    try:
        key = stream.stream_key(platform.redis_prefix)
        last = (await client.xinfo_stream(key))["last-generated-id"]
        groups: list[dict[str, Any]] = await client.xinfo_groups(key)
        return bool(groups) and all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)
    finally:
        await client.aclose()


async def test_after_a_deletion_nothing_of_the_person_is_left_anywhere(
    api: Api, admin: User, platform: Platform
) -> None:
    person = await api.register()
    me = person.token
    tag = uuid4().hex[:12]
    name, line1 = f"Ada {tag}", f"{tag} Lovelace Lane"
    address = {"name": name, "line1": line1, "city": "Springfield", "postal_code": "62701", "country": "US"}
    product_id = await new_product(api, admin, stock=10)

    assert (await api.put("/api/profile/", {"display_name": name}, token=me)).status == 200
    assert (await api.post("/api/profile/addresses/", address, token=me)).status == 201
    assert (await api.post("/api/cart/", {"product_id": product_id, "quantity": 1}, token=me)).status == 201
    ordered = await api.post("/api/orders/", {"shipping_address": address}, token=me)
    assert ordered.status == 201, ordered
    review = {"rating": 5, "comment": f"great {tag}"}
    assert (await api.post(f"/api/products/{product_id}/reviews/", review, token=me)).status == 201
    assert (await api.post("/api/cart/", {"product_id": product_id, "quantity": 2}, token=me)).status == 201
    # Browsing and a search right before the deletion: still in flight when it happens.
    assert (await api.get(f"/api/products/{product_id}", token=me)).status == 200
    assert (await api.get("/api/products/", params={"q": tag}, token=me)).status == 200

    deleted = await api.call("DELETE", "/api/auth/me/", token=me)
    assert deleted.status == 200, deleted
    # The deleted account's token attributes nothing from now on.
    assert (await api.get(f"/api/products/{product_id}", token=me)).status == 200
    assert (await api.get("/api/products/", params={"q": tag}, token=me)).status == 200

    steps = DeletionSteps(Database(platform.settings("auth").resolved_database_url()))

    async def complete() -> bool:
        return await steps.of_user(person.user_id) == []

    await eventually(complete)
    await api.client.app[ACTIVITY].flush()  # type: ignore[union-attr]
    await eventually(lambda: _stream_consumed(platform))

    needles = [person.email, name, line1]
    urls = {platform.settings(s).resolved_database_url() for s in SERVICES}
    leftovers = [hit for url in sorted(urls) for hit in await _rows_naming(url, person.user_id, needles)]
    assert leftovers == []
    assert await _keys_naming(platform, person.user_id, needles) == []
