"""What the inventory tests share: an inventory whose clock they move, callers' metadata, fresh
product ids, stock lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import grpc
import pytest

from services.inventory.service import build_with_clock
from services.kit.server import start
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

Metadata = tuple[tuple[str, str]]
Stub = inventory_pb2_grpc.InventoryServiceStub


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    """The time of this module's inventory: tests move it past an expiry instead of sleeping. It
    only moves forward, by minutes at most, so holds of other tests in the module (15 minutes by
    default) stay held."""
    return FakeClock()


async def timed_inventory(platform: Platform, clock: FakeClock, **overrides: Any) -> AsyncIterator[Stub]:
    """An inventory of its own (on the platform's storage) that reads the time from `clock`."""
    settings = platform.settings("inventory", grpc_port=free_port(), **overrides)
    running = await start(settings, build_with_clock(clock))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield inventory_pb2_grpc.InventoryServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(grace=0)


@pytest.fixture
def admin(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.admin(9_000_003))


@pytest.fixture
def svc(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.service("orders"))


def new_product_id() -> int:
    """A product id no other test (or earlier run on a shared database) has used."""
    return 10**12 + uuid4().int % 10**15


def stock_lines(*pairs: tuple[int, int]) -> list[inventory_pb2.StockLine]:
    return [inventory_pb2.StockLine(product_id=p, quantity=q) for p, q in pairs]
