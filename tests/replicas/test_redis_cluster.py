"""Everything the platform keeps in Redis works on a Redis Cluster (SHOP_REDIS_URL=redis+cluster://):
the cart's scripts and transactions, the revocation list, the gateway's throttles, the activity
stream and the workers' leases, against a three-node cluster this module starts itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import grpc
import pytest
import redis.asyncio as aioredis

from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gateway.throttle import Throttle
from services.cart.store import CartStore
from services.kit import activity_stream as stream
from services.kit import redis as kit_redis
from services.kit.clients import CHANNEL_OPTIONS
from services.kit.lease import Lease, exclusive
from services.kit.principal import Principal, Role
from services.kit.revocation import RevocationList
from services.kit.server import start
from shop.activity.v1 import activity_pb2
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.redis_cluster import LocalCluster
from tests.support.tokens import TokenFactory, bearer

PREFIX = f"test-cluster-{uuid4().hex[:8]}:"


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = LocalCluster(Path(tmp_path_factory.mktemp("redis-cluster")))
    await local.start()
    yield local
    await local.stop()


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[aioredis.Redis]:
    connected = kit_redis.connect(cluster.url)
    assert kit_redis.is_cluster(connected)
    yield connected
    await connected.aclose()


async def test_the_cart_keeps_a_users_lines_in_one_slot(client: aioredis.Redis) -> None:
    carts = CartStore(client, kit_redis.Keys(PREFIX, "cart"), 3600)
    for user in range(1, 21):  # users whose untagged keys would fall in different slots
        first = await carts.add(user, 101, 2)
        await carts.add(user, 202, 1)
        assert (await carts.add(user, 101, 1)).item_id == first.item_id
        await carts.set_quantity(user, first.item_id, 5)
        items, version = await carts.items(user)
        assert [(i.product_id, i.quantity) for i in items] == [(101, 5), (202, 1)]
        assert version
        await carts.clear(user)
        assert await carts.items(user) == ([], "")
        again = await carts.add(user, 303, 1)
        assert again.item_id > first.item_id  # the counter survived the clear: ids never reused
        await carts.forget(user)
        assert await carts.items(user) == ([], "")


async def test_the_revocation_list_answers_across_slots(client: aioredis.Redis) -> None:
    revocations = RevocationList(client, PREFIX)
    user = 5000 + uuid4().int % 1000

    def who(generation: int = 0, token_id: str = "") -> Principal:
        return Principal(str(user), Role.CUSTOMER, "t", token_id or uuid4().hex, 0, generation)

    assert not await revocations.refused(who())
    await revocations.next_generation(user, 60)
    assert await revocations.generation(user) == 1
    assert await revocations.refused(who(0))
    assert not await revocations.refused(who(1))
    revoked = who(1)
    await revocations.revoke(revoked.token_id, 2**31)
    assert await revocations.refused(revoked)
    await revocations.revoke_user(user, 60)
    assert await revocations.deleted_users([user, user + 1, user + 2]) == {user}


async def test_the_gateways_throttles_count_on_a_cluster(client: aioredis.Redis) -> None:
    settings = GatewaySettings(redis_prefix=PREFIX, registrations_per_client=2)
    throttle = Throttle(client, settings)
    caller = f"10.0.{uuid4().int % 250}.{uuid4().int % 250}"
    await throttle.before_registration(caller)
    await throttle.before_registration(caller)
    with pytest.raises(ApiError) as refused:
        await throttle.before_registration(caller)
    assert refused.value.status == 429


async def test_leases_and_the_activity_stream_work_on_a_cluster(client: aioredis.Redis) -> None:
    key = kit_redis.Keys(PREFIX, "orders")("lease", "recovery")
    first, second = Lease(client, key, 5), Lease(client, key, 5)
    fence = await first.acquire()
    assert fence is not None
    assert await second.acquire() is None
    await first.release(fence)
    assert await exclusive(second, lambda: asyncio.sleep(0, "ran")) == (True, "ran")

    events = stream.stream_key(PREFIX)
    event = stream.StreamEvent(activity_pb2.EVENT_TYPE_PRODUCT_VIEWED, user_id=7, product_id=8)
    await stream.append(client, events, [event.encode()] * 3)
    await client.xgroup_create(events, stream.GROUP, id="0", mkstream=True)
    reply: Any = await client.xreadgroup(stream.GROUP, "c1", {events: ">"}, count=10)
    ids: list[str] = [entry_id for entry_id, _ in reply[0][1]]
    assert len(ids) == 3
    async with client.pipeline(transaction=True) as pipe:  # the consumer's acknowledge-and-delete
        pipe.xack(events, stream.GROUP, *ids)
        pipe.xdel(events, *ids)
        assert await pipe.execute() == [3, 3]


async def test_the_cart_service_runs_on_a_cluster(
    cluster: LocalCluster, platform: Platform, tokens: TokenFactory
) -> None:
    """The real service: its tokens are checked against the revocation list on the cluster, and a
    revocation announced there reaches its listener."""
    settings = platform.settings("cart", grpc_port=free_port(), redis_url=cluster.url, redis_prefix=PREFIX)
    service = await start(settings, __import__("services.cart.service", fromlist=["build"]).build)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}", options=CHANNEL_OPTIONS)
    try:
        stub = cart_pb2_grpc.CartServiceStub(channel)
        user = 7000 + uuid4().int % 1000
        reply = await stub.GetCart(cart_pb2.GetCartRequest(), metadata=bearer(tokens.customer(user)))
        assert list(reply.cart.items) == []
        await stub.ClearCart(cart_pb2.ClearCartRequest(), metadata=bearer(tokens.customer(user)))
        revocations = RevocationList(kit_redis.connect(cluster.url), PREFIX)
        try:
            await revocations.revoke_user(user, 60)
        finally:
            await revocations.client.aclose()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetCart(cart_pb2.GetCartRequest(), metadata=bearer(tokens.customer(user)))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()
        await service.stop(grace=0)
