"""Two replicas of a service side by side do each piece of background work once: two instances of
each worker run at the same time against one database (and one Redis), with work queued, and each
piece of it is done by exactly one of them. SQLite or PostgreSQL (SHOP_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import grpc
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from services.activity.consumer import StreamConsumer
from services.activity.service import MIGRATIONS as ACTIVITY_MIGRATIONS
from services.activity.store import ActivityStore
from services.auth.service import MIGRATIONS as AUTH_MIGRATIONS
from services.auth.store import DeletionStepRow, DeletionSteps
from services.inventory.domain import Line
from services.inventory.low_stock import LowStockGauge
from services.inventory.service import MIGRATIONS as INVENTORY_MIGRATIONS
from services.inventory.store import InventoryStore
from services.inventory.sweeper import Sweeper
from services.kit import activity_stream as stream
from services.kit import timestamps
from services.kit.database import Database
from services.kit.lease import Lease, LeaseLost, exclusive
from services.payments.providers import ProviderResult
from services.payments.test_resolver import Launch, StallingProvider, _charge, _payments, launch, svc
from services.shipping.service import MIGRATIONS as SHIPPING_MIGRATIONS
from services.shipping.store import OrderUpdateRow, ShippingStore
from shop.activity.v1 import activity_pb2
from shop.payments.v1 import payments_pb2
from tests.support.polling import eventually
from tests.support.run import redis_prefix

__all__ = ["launch", "svc"]  # fixtures shared with the resolver's own tests
# Rows per outbox: enough for the two walks to overlap; SQLite makes the two writers take turns.
ROWS = 12


async def _engines(url: str, service: str, migrations: object, count: int = 2) -> list[Database]:
    """`count` engines on one service's database, as `count` processes would have."""
    dbs = [Database(url.replace("{service}", service)) for _ in range(count)]
    await dbs[0].migrate(service, migrations)  # type: ignore[arg-type]
    return dbs


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def _lease_key() -> str:
    return f"{redis_prefix('test')}replicas:lease:{uuid4().hex}"


# --- the lease every periodic pass runs under -----------------------------------------------------


async def test_two_replicas_under_one_lease_run_each_pass_once(redis: aioredis.Redis) -> None:
    key = _lease_key()
    first, second = Lease(redis, key, ttl_seconds=5), Lease(redis, key, ttl_seconds=5)
    inside: list[str] = []
    gate = asyncio.Event()

    async def work(name: str) -> str:
        inside.append(name)
        await gate.wait()
        return name

    running = asyncio.create_task(exclusive(first, lambda: work("first")))
    await _until_true(lambda: bool(inside))
    assert await exclusive(second, lambda: work("second")) == (False, None)
    gate.set()
    assert await running == (True, "first")
    assert inside == ["first"]
    # Released at the end of the pass: the next pass is anyone's, under a new fencing number.
    assert await exclusive(second, lambda: work("second")) == (True, "second")


async def test_a_holder_that_lost_its_lease_stops_its_pass(redis: aioredis.Redis) -> None:
    """The lease expired under a stalled holder and another replica took it: the old holder's pass is
    cancelled at its next renewal instead of running on beside the new one."""
    key = _lease_key()
    stalled, other = Lease(redis, key, ttl_seconds=0.3), Lease(redis, key, ttl_seconds=30)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def long_pass() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            cancelled.set()

    running = asyncio.create_task(stalled.run(long_pass))
    await started.wait()
    await redis.delete("{" + key + "}")  # its time ran out while it stalled
    taken = await other.acquire()
    assert taken is not None
    with pytest.raises(LeaseLost):
        await running
    assert cancelled.is_set()
    assert await other.renew(taken)  # the new holder's lease is untouched by the old one's exit


async def _until_true(check: object, seconds: float = 5.0) -> None:
    async def ok() -> bool:
        return bool(check())  # type: ignore[operator]

    await eventually(ok, within=seconds)


# --- inventory: the reservation sweeper ----------------------------------------------------------


async def test_two_sweepers_expire_each_reservation_once(database_url: str) -> None:
    dbs = await _engines(database_url, "inventory", INVENTORY_MIGRATIONS)
    stores = [InventoryStore(db) for db in dbs]
    try:
        product = 10**12 + uuid4().int % 10**15
        await stores[0].set_stock(product, 100, None, "stock", "test")
        # Due an hour from now, swept as of two hours from now: a platform's own inventory sweeper
        # on the same database (other tests') goes by the real clock and leaves them to these two.
        due = timestamps.now() + timedelta(hours=1)
        sweep_at = due + timedelta(hours=1)
        ids = {
            (await stores[0].reserve(f"order:{uuid4().hex}", [Line(product, 2)], due)).id for _ in range(30)
        }
        per_query = 4
        sweepers = [
            Sweeper(store, LowStockGauge(store), timestamps.now, batch=per_query, interval=3600)
            for store in stores
        ]

        async def sweep(sweeper: Sweeper, store: InventoryStore) -> list[str]:
            """The sweeper's step, batch after batch, until no stock is held (a batch the other
            replica emptied first comes back short, so one pass may leave the rest to the next)."""
            done: list[str] = []
            while (await store.levels([product]))[0].reserved:
                batch = await store.expire_due(sweep_at, per_query)
                done += [r.id for r in batch]
            await sweeper.sweep_once()  # and the worker's own pass finds nothing left
            return done

        first, second = await asyncio.gather(*(sweep(s, st) for s, st in zip(sweepers, stores, strict=True)))
        mine = Counter(r for r in first + second if r in ids)
        assert set(mine) == ids
        assert set(mine.values()) == {1}
        (level,) = await stores[0].levels([product])
        assert (level.on_hand, level.reserved) == (100, 0)
    finally:
        for db in dbs:
            await db.close()


# --- payments: the resolver ----------------------------------------------------------------------


class CountingProvider(StallingProvider):
    def __init__(self) -> None:
        super().__init__()
        self.voids: Counter[str] = Counter()
        self.stall = "before-capture"

    async def void(self, payment_id: str, reference: str) -> ProviderResult:
        self.voids[payment_id] += 1
        await asyncio.sleep(0.02)  # a real provider answers over the network
        return await super().void(payment_id, reference)


async def test_two_resolvers_void_each_abandoned_charge_once(
    launch: Launch, svc: tuple[tuple[str, str]]
) -> None:
    provider = CountingProvider()  # the provider's records outlive our processes
    dying, stub = await launch(provider)
    references = [f"order:{uuid4().hex}" for _ in range(8)]
    replies = await asyncio.gather(
        *(stub.Charge(_charge(ref, uuid4().hex), metadata=svc, timeout=1) for ref in references),
        return_exceptions=True,
    )
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.DEADLINE_EXCEEDED for r in replies
    )
    await dying.stop(grace=0)  # authorized at the provider, never captured: all left unfinished
    provider.stall = ""
    (_, first), (_, second) = await launch(provider), await launch(provider)

    async def all_failed() -> bool:
        found = [p for ref in references for p in await _payments(first, svc, ref)]
        return len(found) == len(references) and all(
            p.status == payments_pb2.PAYMENT_STATUS_FAILED for p in found
        )

    await eventually(all_failed, within=30)
    await asyncio.sleep(0.3)  # a few more passes of both: nothing is voided again
    payments = [p for ref in references for p in await _payments(second, svc, ref)]
    assert {p.id: provider.voids[p.id] for p in payments} == {p.id: 1 for p in payments}
    for payment in payments:
        assert [e.type for e in payment.events].count("voided") == 1


# --- activity: the stream consumers --------------------------------------------------------------


async def test_two_consumers_store_each_stream_entry_once(database_url: str, redis_url: str) -> None:
    dbs = await _engines(database_url, "activity", ACTIVITY_MIGRATIONS)
    key = stream.stream_key(f"{redis_prefix('test')}replicas:{uuid4().hex}:")
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in dbs]
    user = 10**9 + uuid4().int % 10**9
    stores = [ActivityStore(db) for db in dbs]
    consumers = [
        StreamConsumer(client, store, key, f"replica-{n}", batch=7, block_ms=50, linger=0)
        for n, (client, store) in enumerate(zip(clients, stores, strict=True))
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks = [asyncio.create_task(c.run()) for c in consumers]
        for start in range(0, 120, 10):
            events = [
                stream.StreamEvent(activity_pb2.EVENT_TYPE_PRODUCT_VIEWED, user_id=user, product_id=n + 1)
                for n in range(start, start + 10)
            ]
            await stream.append(clients[0], key, [e.encode() for e in events])
            await asyncio.sleep(0.02)  # a trickle, as requests bring them

        async def stored() -> bool:
            return sum(c.committed for c in consumers) >= 120

        await eventually(stored, within=20)
        await asyncio.sleep(0.2)
        rows = await stores[1].user_events(user, [], 500, None)
        assert sorted(row.product_id for row in rows) == list(range(1, 121))
        assert all(c.committed > 0 for c in consumers)  # both took a share
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await clients[0].delete(key)
        for client in clients:
            await client.aclose()
        for db in dbs:
            await db.close()


# --- shipping's order sync and auth's deletion outbox: rows claimed by a conditional update --------


async def test_two_outbox_workers_claim_each_row_once(database_url: str) -> None:
    """Shipping's order updates and auth's deletion steps: two replicas walk the same due rows at the
    same time, as their loops do (`due`, then `claim` each), and each row is taken by one of them."""
    now = timestamps.now()
    later = now + timedelta(seconds=30)
    batch = uuid4().int % 10**9
    for service, migrations, row, store_of in (
        ("shipping", SHIPPING_MIGRATIONS, OrderUpdateRow, ShippingStore),
        ("auth", AUTH_MIGRATIONS, DeletionStepRow, DeletionSteps),
    ):
        dbs = await _engines(database_url, service, migrations)
        try:
            async with dbs[0].write() as session:
                for n in range(ROWS):
                    owner = (
                        {"order_id": batch + n, "shipment_id": n}
                        if row is OrderUpdateRow
                        else {"user_id": batch + n}
                    )
                    session.add(row(**owner, target="shipped", next_attempt_at=now, created_at=now))
            stores = [store_of(db) for db in dbs]

            async def work(store: Any) -> list[int]:
                if isinstance(store, ShippingStore):
                    due = await store.due_order_updates(now, 100)
                    return [u.id for u in due if await store.claim_order_update(u.id, now, later)]
                return [s.id for s in await store.due(now, 100) if await store.claim(s.id, now, later)]

            first, second = await asyncio.gather(*(work(store) for store in stores))
            mine = await _ids_of(dbs[0], row, batch)
            taken = Counter(i for i in first + second if i in mine)
            assert set(taken) == mine, service
            assert set(taken.values()) == {1}, service
        finally:
            for db in dbs:
                await db.close()


async def _ids_of(db: Database, row: Any, batch: int) -> set[int]:
    owner = row.order_id if row is OrderUpdateRow else row.user_id
    async with db.read() as session:
        return set(await session.scalars(sa.select(row.id).where(owner >= batch, owner < batch + ROWS)))
