"""A database connection lost under a call answers UNAVAILABLE (the gateway's 503), not INTERNAL."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.content.service import MIGRATIONS
from services.content.service import build as build_content
from services.kit.database import Database
from services.kit.server import Registration, Runtime, start
from shop.content.v1 import content_pb2, content_pb2_grpc
from tests.support.harness import Platform
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(
    not os.environ.get("SHOP_TEST_DATABASE_URL"), reason="a server's connection to drop: PostgreSQL only"
)


async def _list_posts_failing(
    platform: Platform, fault: Callable[[Database], Awaitable[None]]
) -> grpc.StatusCode:
    """What a real content service answers when `fault` happens to its ListPosts call."""

    async def build(runtime: Runtime) -> Sequence[Registration]:
        registrations = await build_content(runtime)
        db = await runtime.database(MIGRATIONS)

        async def failing(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await fault(db)
            raise AssertionError("the fault did not happen")

        registrations[0].servicer.ListPosts = failing
        return registrations

    running = await start(platform.settings("content", grpc_port=free_port()), build)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await content_pb2_grpc.ContentServiceStub(channel).ListPosts(
                    content_pb2.ListPostsRequest(), timeout=10
                )
    finally:
        await running.stop(grace=0)
    return caught.value.code()


async def test_a_connection_dropped_mid_call_is_unavailable(platform: Platform) -> None:
    async def dropped(db: Database) -> None:
        # What a database restart does to a call: its backend goes away under it.
        async with db.read() as session:
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    assert await _list_posts_failing(platform, dropped) == grpc.StatusCode.UNAVAILABLE


async def test_a_database_refusing_connections_is_unavailable(platform: Platform) -> None:
    """A full server ("too many connections", SQLSTATE 53300) is an outage the caller may retry."""
    admin = create_async_engine(os.environ["SHOP_TEST_DATABASE_URL"])
    async with admin.begin() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = 'shop_test_full'"))
        if not exists:
            await conn.execute(text("CREATE ROLE shop_test_full LOGIN CONNECTION LIMIT 0"))
    await admin.dispose()
    full_url = make_url(os.environ["SHOP_TEST_DATABASE_URL"]).set(username="shop_test_full", password=None)

    async def refused(db: Database) -> None:
        # What a server at max_connections does to a pool opening one more connection.
        engine = create_async_engine(full_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    assert await _list_posts_failing(platform, refused) == grpc.StatusCode.UNAVAILABLE
