"""Reservations that outlive their order: ExtendReservation keeps one alive, the sweeper expires
the rest; the low-stock count follows stock changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import grpc
import pytest
from prometheus_client import REGISTRY

from services.inventory.conftest import Metadata, Stub, new_product_id, stock_lines, timed_inventory
from shop.inventory.v1 import inventory_pb2
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.polling import eventually

HELD = inventory_pb2.RESERVATION_STATE_HELD


@pytest.fixture(scope="module")
async def inventory(platform: Platform, clock: FakeClock) -> AsyncIterator[Stub]:
    # A sweeper that runs often enough for a test to watch it, as of the clock the tests move.
    async for stub in timed_inventory(platform, clock, sweep_interval_seconds=0.05):
        yield stub


async def _level(inventory: Stub, admin: Metadata, product_id: int) -> tuple[int, int]:
    reply = await inventory.GetStock(inventory_pb2.GetStockRequest(product_id=product_id), metadata=admin)
    return reply.level.on_hand, reply.level.reserved


async def _reserve(inventory: Stub, svc: Metadata, pid: int, qty: int, ttl: int) -> inventory_pb2.Reservation:
    reply = await inventory.Reserve(
        inventory_pb2.ReserveRequest(
            order_reference=f"test-{uuid4().hex}", lines=stock_lines((pid, qty)), ttl_seconds=ttl
        ),
        metadata=svc,
    )
    reservation: inventory_pb2.Reservation = reply.reservation
    return reservation


async def test_the_sweeper_expires_held_reservations_and_frees_their_stock(
    inventory: Stub, admin: Metadata, svc: Metadata, clock: FakeClock
) -> None:
    pid = new_product_id()
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=10), metadata=admin)
    short = await _reserve(inventory, svc, pid, 3, ttl=60)
    long = await _reserve(inventory, svc, pid, 2, ttl=3600)
    assert await _level(inventory, admin, pid) == (10, 5)
    clock.advance(timedelta(seconds=60))
    await eventually(lambda: _level(inventory, admin, pid), lambda level: level == (10, 2))
    # The expired one can be neither committed nor extended; the long one still commits.
    for call, request in (
        (inventory.CommitReservation, inventory_pb2.CommitReservationRequest(reservation_id=short.id)),
        (inventory.ExtendReservation, inventory_pb2.ExtendReservationRequest(reservation_id=short.id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=svc)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "expired" in (caught.value.details() or "")
    await inventory.CommitReservation(
        inventory_pb2.CommitReservationRequest(reservation_id=long.id), metadata=svc
    )
    assert await _level(inventory, admin, pid) == (8, 0)


async def test_an_extended_reservation_survives_its_first_expiry(
    inventory: Stub, admin: Metadata, svc: Metadata, clock: FakeClock
) -> None:
    pid = new_product_id()
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=4), metadata=admin)
    held = await _reserve(inventory, svc, pid, 4, ttl=60)
    extended = await inventory.ExtendReservation(
        inventory_pb2.ExtendReservationRequest(reservation_id=held.id, ttl_seconds=120), metadata=svc
    )
    assert extended.reservation.state == HELD
    assert extended.reservation.expire_time.seconds == held.expire_time.seconds + 60
    # Past the first expiry: a hold of the first length, taken beside it, is swept; this one stays.
    marker = new_product_id()
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=marker, on_hand=1), metadata=admin)
    await _reserve(inventory, svc, marker, 1, ttl=60)
    clock.advance(timedelta(seconds=60))
    await eventually(lambda: _level(inventory, admin, marker), lambda level: level == (1, 0))
    assert await _level(inventory, admin, pid) == (4, 4)
    # Never shortened: a smaller ttl keeps the later expiry.
    again = await inventory.ExtendReservation(
        inventory_pb2.ExtendReservationRequest(reservation_id=held.id, ttl_seconds=2), metadata=svc
    )
    assert again.reservation.expire_time.seconds == extended.reservation.expire_time.seconds
    await inventory.CommitReservation(
        inventory_pb2.CommitReservationRequest(reservation_id=held.id), metadata=svc
    )
    assert await _level(inventory, admin, pid) == (0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.ExtendReservation(
            inventory_pb2.ExtendReservationRequest(reservation_id=held.id), metadata=svc
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_extend_is_for_services_and_checks_its_input(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inventory.ExtendReservation(
            inventory_pb2.ExtendReservationRequest(reservation_id=str(uuid4())), metadata=admin
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for request, code in (
        (inventory_pb2.ExtendReservationRequest(reservation_id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            inventory_pb2.ExtendReservationRequest(reservation_id=str(uuid4()), ttl_seconds=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (inventory_pb2.ExtendReservationRequest(reservation_id=str(uuid4())), grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await inventory.ExtendReservation(request, metadata=svc)
        assert caught.value.code() == code


async def test_the_low_stock_gauge_follows_stock_changes(inventory: Stub, admin: Metadata) -> None:
    def gauge() -> float:
        return REGISTRY.get_sample_value("shop_inventory_low_stock_products") or 0.0

    pid = new_product_id()
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=100, low_stock_threshold=10), metadata=admin
    )

    async def low_listed() -> set[int]:
        listed, token = set(), ""
        while True:
            low = await inventory.ListLowStock(
                inventory_pb2.ListLowStockRequest(page_size=500, page_token=token), metadata=admin
            )
            listed |= {level.product_id for level in low.levels}
            token = low.next_page_token
            if not token:
                return listed

    async def settled() -> tuple[float, int]:
        return gauge(), len(await low_listed())

    # Once the gauge agrees with the list (changes of other tests have been counted):
    before, _ = await eventually(settled, lambda seen: seen[0] == seen[1])
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=10), metadata=admin)

    async def counted() -> float:
        return gauge()

    await eventually(counted, lambda value: value == before + 1)
    assert pid in await low_listed()
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=11), metadata=admin)
    await eventually(counted, lambda value: value == before)
