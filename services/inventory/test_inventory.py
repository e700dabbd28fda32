from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import grpc
import pytest

from services.inventory.conftest import Metadata, Stub, new_product_id, stock_lines, timed_inventory
from shop.inventory.v1 import inventory_pb2
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer


@pytest.fixture(scope="module")
async def inventory(platform: Platform, clock: FakeClock) -> AsyncIterator[Stub]:
    # No sweeper: expiry here is what Commit and Extend find at the clock's time.
    async for stub in timed_inventory(platform, clock, sweep_interval_seconds=0):
        yield stub


def _ref() -> str:
    return f"test-{uuid4().hex}"


def _triple(level: inventory_pb2.StockLevel) -> tuple[int, int, int]:
    return level.on_hand, level.reserved, level.available


async def _set(inventory: Stub, admin: Metadata, product_id: int, on_hand: int) -> None:
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=product_id, on_hand=on_hand), metadata=admin
    )


async def _level(inventory: Stub, admin: Metadata, product_id: int) -> tuple[int, int, int]:
    reply = await inventory.GetStock(inventory_pb2.GetStockRequest(product_id=product_id), metadata=admin)
    return _triple(reply.level)


async def _movements(inventory: Stub, admin: Metadata, product_id: int) -> list[inventory_pb2.Movement]:
    found: list[inventory_pb2.Movement] = []
    token = ""
    while True:
        page = await inventory.ListMovements(
            inventory_pb2.ListMovementsRequest(product_id=product_id, page_size=100, page_token=token),
            metadata=admin,
        )
        found += page.movements
        token = page.next_page_token
        if not token:
            return found


async def _code(call: Awaitable[Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    code: grpc.StatusCode = err.value.code()
    return code


# --- reading -----------------------------------------------------------------------------------------


async def test_never_stocked_products_read_as_zeros(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    stocked, never = new_product_id(), new_product_id()
    await _set(inventory, admin, stocked, 7)
    reply = await inventory.GetStock(inventory_pb2.GetStockRequest(product_id=never), metadata=svc)
    assert (reply.level.product_id, *_triple(reply.level)) == (never, 0, 0, 0)

    batch = await inventory.BatchGetStock(
        inventory_pb2.BatchGetStockRequest(product_ids=[never, stocked, never]), metadata=svc
    )
    assert [(x.product_id, *_triple(x)) for x in batch.levels] == [
        (never, 0, 0, 0),
        (stocked, 7, 0, 7),
        (never, 0, 0, 0),
    ]


async def test_list_stock_walks_every_level_once_in_product_order(inventory: Stub, admin: Metadata) -> None:
    base = new_product_id()
    ids = [base + i for i in range(5)]
    for i, pid in enumerate(ids):
        await _set(inventory, admin, pid, i + 1)
    seen: list[int] = []
    token = ""
    while True:
        page = await inventory.ListStock(
            inventory_pb2.ListStockRequest(page_size=2, page_token=token), metadata=admin
        )
        assert len(page.levels) <= 2
        seen += [x.product_id for x in page.levels]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen)
    assert [pid for pid in seen if pid in ids] == ids


async def test_list_low_stock_is_available_at_or_below_threshold(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    low, plenty, held, custom = new_product_id(), new_product_id(), new_product_id(), new_product_id()
    await _set(inventory, admin, low, 5)  # available 5 == default threshold 5
    await _set(inventory, admin, plenty, 50)
    await _set(inventory, admin, held, 10)
    await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((held, 6))), metadata=svc
    )
    reply = await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=custom, on_hand=20, low_stock_threshold=25), metadata=admin
    )
    assert reply.level.low_stock_threshold == 25
    seen: set[int] = set()
    token = ""
    while True:
        page = await inventory.ListLowStock(
            inventory_pb2.ListLowStockRequest(page_size=50, page_token=token), metadata=admin
        )
        assert all(x.available <= x.low_stock_threshold for x in page.levels)
        seen |= {x.product_id for x in page.levels}
        token = page.next_page_token
        if not token:
            break
    assert {low, held, custom} <= seen
    assert plenty not in seen


# --- permissions and bad input ---------------------------------------------------------------------


def _calls(stub: Stub) -> dict[str, tuple[Callable[..., Awaitable[Any]], Any]]:
    pid = new_product_id()
    return {
        "GetStock": (stub.GetStock, inventory_pb2.GetStockRequest(product_id=pid)),
        "BatchGetStock": (stub.BatchGetStock, inventory_pb2.BatchGetStockRequest(product_ids=[pid])),
        "ListStock": (stub.ListStock, inventory_pb2.ListStockRequest()),
        "SetStock": (stub.SetStock, inventory_pb2.SetStockRequest(product_id=pid, on_hand=1)),
        "AdjustStock": (stub.AdjustStock, inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, 1)))),
        "Reserve": (
            stub.Reserve,
            inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 1))),
        ),
        "CommitReservation": (
            stub.CommitReservation,
            inventory_pb2.CommitReservationRequest(reservation_id=str(uuid4())),
        ),
        "ReleaseReservation": (
            stub.ReleaseReservation,
            inventory_pb2.ReleaseReservationRequest(reservation_id=str(uuid4())),
        ),
        "ListMovements": (stub.ListMovements, inventory_pb2.ListMovementsRequest()),
        "ListLowStock": (stub.ListLowStock, inventory_pb2.ListLowStockRequest()),
    }


_SERVICE_ONLY = ["AdjustStock", "Reserve", "CommitReservation", "ReleaseReservation"]
_ADMIN_ONLY = ["SetStock", "ListMovements", "ListLowStock"]
_ALL = ["GetStock", "BatchGetStock", "ListStock", *_ADMIN_ONLY, *_SERVICE_ONLY]


@pytest.mark.parametrize("method", _ALL)
async def test_anonymous_and_bad_tokens_are_unauthenticated(
    inventory: Stub, tokens: TokenFactory, method: str
) -> None:
    call, request = _calls(inventory)[method]
    assert await _code(call(request)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(call(request, metadata=bearer(tokens.expired(3)))) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(call(request, metadata=bearer(tokens.foreign(3)))) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("method", _ALL)
async def test_customers_are_denied_everything(inventory: Stub, tokens: TokenFactory, method: str) -> None:
    call, request = _calls(inventory)[method]
    assert (
        await _code(call(request, metadata=bearer(tokens.customer(9_000_007))))
        == grpc.StatusCode.PERMISSION_DENIED
    )


@pytest.mark.parametrize("method", _SERVICE_ONLY)
async def test_admins_cannot_adjust_or_reserve(inventory: Stub, admin: Metadata, method: str) -> None:
    call, request = _calls(inventory)[method]
    assert await _code(call(request, metadata=admin)) == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("method", _ADMIN_ONLY)
async def test_services_cannot_set_stock_or_read_history(inventory: Stub, svc: Metadata, method: str) -> None:
    call, request = _calls(inventory)[method]
    assert await _code(call(request, metadata=svc)) == grpc.StatusCode.PERMISSION_DENIED


async def test_the_catalog_sets_stock_for_the_admin_it_names(
    inventory: Stub, admin: Metadata, tokens: TokenFactory
) -> None:
    pid = new_product_id()
    catalog = bearer(tokens.service("catalog"))
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=6, reason="with the product", actor="9000077"),
        metadata=catalog,
    )
    assert await _level(inventory, admin, pid) == (6, 0, 6)
    moves = await inventory.ListMovements(inventory_pb2.ListMovementsRequest(product_id=pid), metadata=admin)
    assert [(m.delta, m.actor) for m in moves.movements] == [(6, "9000077")]
    # An admin is the actor whatever the request names.
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=2, actor="someone else"), metadata=admin
    )
    moves = await inventory.ListMovements(inventory_pb2.ListMovementsRequest(product_id=pid), metadata=admin)
    assert moves.movements[0].actor == "9000003"
    too_long = inventory_pb2.SetStockRequest(product_id=pid, on_hand=1, actor="x" * 101)
    assert await _code(inventory.SetStock(too_long, metadata=catalog)) == grpc.StatusCode.INVALID_ARGUMENT


def _bad_requests() -> list[tuple[str, Any]]:
    pid = 10**12
    many = stock_lines(*((pid + i, 1) for i in range(101)))
    return [
        ("GetStock", inventory_pb2.GetStockRequest(product_id=0)),
        ("GetStock", inventory_pb2.GetStockRequest(product_id=-4)),
        ("BatchGetStock", inventory_pb2.BatchGetStockRequest(product_ids=[pid, 0])),
        ("BatchGetStock", inventory_pb2.BatchGetStockRequest(product_ids=list(range(1, 502)))),
        ("ListStock", inventory_pb2.ListStockRequest(page_token="%%%")),
        ("ListStock", inventory_pb2.ListStockRequest(page_size=-1)),
        ("SetStock", inventory_pb2.SetStockRequest(product_id=pid, on_hand=-1)),
        ("SetStock", inventory_pb2.SetStockRequest(product_id=0, on_hand=1)),
        ("SetStock", inventory_pb2.SetStockRequest(product_id=pid, on_hand=1, low_stock_threshold=-1)),
        ("SetStock", inventory_pb2.SetStockRequest(product_id=pid, on_hand=1, reason="x" * 501)),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(reference=_ref())),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, 0)))),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((0, 1)))),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((-1, 1)))),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, 1), (pid, 2)))),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=many)),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, 1)), reference="r" * 201)),
        ("AdjustStock", inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, 10**10)))),
        ("Reserve", inventory_pb2.ReserveRequest(lines=stock_lines((pid, 1)))),
        ("Reserve", inventory_pb2.ReserveRequest(order_reference=_ref())),
        ("Reserve", inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 0)))),
        ("Reserve", inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, -2)))),
        ("Reserve", inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((0, 2)))),
        ("Reserve", inventory_pb2.ReserveRequest(order_reference=_ref(), lines=many)),
        (
            "Reserve",
            inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 1)), ttl_seconds=-1),
        ),
        ("CommitReservation", inventory_pb2.CommitReservationRequest(reservation_id="")),
        ("CommitReservation", inventory_pb2.CommitReservationRequest(reservation_id="not-a-uuid")),
        ("ReleaseReservation", inventory_pb2.ReleaseReservationRequest(reservation_id="nope")),
        ("ListMovements", inventory_pb2.ListMovementsRequest(product_id=-1)),
        ("ListMovements", inventory_pb2.ListMovementsRequest(page_token="bad")),
        ("ListLowStock", inventory_pb2.ListLowStockRequest(page_token="%%%")),
    ]


@pytest.mark.parametrize(("method", "request_"), _bad_requests())
async def test_bad_input_is_invalid_argument(
    inventory: Stub, tokens: TokenFactory, method: str, request_: Any
) -> None:
    token = tokens.service("orders") if method in _SERVICE_ONLY else tokens.admin(9_000_003)
    call = getattr(inventory, method)
    assert await _code(call(request_, metadata=bearer(token))) == grpc.StatusCode.INVALID_ARGUMENT


# --- SetStock -----------------------------------------------------------------------------------------


async def test_set_stock_records_the_delta_and_the_admin(inventory: Stub, tokens: TokenFactory) -> None:
    pid = new_product_id()
    admin = bearer(tokens.admin(9_000_042))
    first = await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=10, reason="stocktake"), metadata=admin
    )
    assert (*_triple(first.level), first.level.low_stock_threshold) == (10, 0, 10, 5)
    await inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=4), metadata=admin)
    # Only the threshold changes: no movement.
    await inventory.SetStock(
        inventory_pb2.SetStockRequest(product_id=pid, on_hand=4, low_stock_threshold=2), metadata=admin
    )
    moves = await _movements(inventory, admin, pid)
    assert [(m.delta, m.resulting_on_hand, m.actor) for m in moves] == [
        (-6, 4, "9000042"),
        (10, 10, "9000042"),
    ]
    assert moves[1].reason == "stocktake"
    assert moves[0].create_time.seconds > 0
    reply = await inventory.GetStock(inventory_pb2.GetStockRequest(product_id=pid), metadata=admin)
    assert (*_triple(reply.level), reply.level.low_stock_threshold) == (4, 0, 4, 2)


async def test_set_stock_below_reserved_is_refused(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 10)
    await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 4))), metadata=svc
    )
    code = await _code(
        inventory.SetStock(inventory_pb2.SetStockRequest(product_id=pid, on_hand=3), metadata=admin)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert await _level(inventory, admin, pid) == (10, 4, 6)
    await _set(inventory, admin, pid, 4)
    assert await _level(inventory, admin, pid) == (4, 4, 0)


# --- AdjustStock ---------------------------------------------------------------------------------------


async def test_adjust_changes_every_line(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    a, b = new_product_id(), new_product_id()
    await _set(inventory, admin, a, 5)
    reply = await inventory.AdjustStock(
        inventory_pb2.AdjustStockRequest(
            lines=stock_lines((b, 3), (a, -2)), reference=_ref(), reason="recount"
        ),
        metadata=svc,
    )
    # Levels answer in the order of the lines; a product never stocked gets a row.
    assert [(x.product_id, *_triple(x)) for x in reply.levels] == [(b, 3, 0, 3), (a, 3, 0, 3)]
    (move,) = [m for m in await _movements(inventory, admin, b)]
    assert (move.delta, move.resulting_on_hand, move.actor, move.reason) == (3, 3, "svc:orders", "recount")


async def test_adjust_is_all_or_nothing(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    a, b, fresh = new_product_id(), new_product_id(), new_product_id()
    await _set(inventory, admin, a, 5)
    await _set(inventory, admin, b, 1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await inventory.AdjustStock(
            inventory_pb2.AdjustStockRequest(
                lines=stock_lines((a, -2), (fresh, 4), (b, -3)), reference=_ref()
            ),
            metadata=svc,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == f"insufficient stock for product {b}"
    assert await _level(inventory, admin, a) == (5, 0, 5)
    assert await _level(inventory, admin, b) == (1, 0, 1)
    assert await _level(inventory, admin, fresh) == (0, 0, 0)
    assert len(await _movements(inventory, admin, a)) == 1  # only the SetStock
    assert await _movements(inventory, admin, fresh) == []


async def test_adjust_cannot_take_reserved_or_unknown_stock(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    pid, never = new_product_id(), new_product_id()
    await _set(inventory, admin, pid, 5)
    await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 3))), metadata=svc
    )
    for line in [(pid, -3), (never, -1)]:
        code = await _code(
            inventory.AdjustStock(inventory_pb2.AdjustStockRequest(lines=stock_lines(line)), metadata=svc)
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION
    await inventory.AdjustStock(inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, -2))), metadata=svc)
    assert await _level(inventory, admin, pid) == (3, 3, 0)


async def test_adjust_with_a_used_reference_changes_nothing(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    a, b = new_product_id(), new_product_id()
    ref = _ref()
    first = await inventory.AdjustStock(
        inventory_pb2.AdjustStockRequest(lines=stock_lines((a, 5), (b, 2)), reference=ref), metadata=svc
    )
    again = await inventory.AdjustStock(
        inventory_pb2.AdjustStockRequest(lines=stock_lines((a, 5), (b, 2)), reference=ref), metadata=svc
    )
    assert [_triple(x) for x in first.levels] == [_triple(x) for x in again.levels] == [(5, 0, 5), (2, 0, 2)]
    # Even different lines under a used reference change nothing.
    other = await inventory.AdjustStock(
        inventory_pb2.AdjustStockRequest(lines=stock_lines((a, -1)), reference=ref), metadata=svc
    )
    assert [_triple(x) for x in other.levels] == [(5, 0, 5)]
    assert await _level(inventory, admin, a) == (5, 0, 5)
    assert len(await _movements(inventory, admin, a)) == 1


async def test_concurrent_adjusts_never_oversell(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 10)
    results = await asyncio.gather(
        *(
            inventory.AdjustStock(
                inventory_pb2.AdjustStockRequest(
                    lines=stock_lines((pid, -1)), reference=_ref(), reason="sale"
                ),
                metadata=svc,
            )
            for _ in range(30)
        ),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(failures) == 10
    assert all(
        isinstance(f, grpc.aio.AioRpcError) and f.code() == grpc.StatusCode.FAILED_PRECONDITION
        for f in failures
    )
    assert await _level(inventory, admin, pid) == (0, 0, 0)
    sales = [m for m in await _movements(inventory, admin, pid) if m.reason == "sale"]
    assert sum(m.delta for m in sales) == -10
    assert sorted(m.resulting_on_hand for m in sales) == list(range(10))


async def test_concurrent_repeats_of_one_reference_apply_once(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 1)
    request = inventory_pb2.AdjustStockRequest(lines=stock_lines((pid, -1)), reference=_ref())
    replies = await asyncio.gather(*(inventory.AdjustStock(request, metadata=svc) for _ in range(10)))
    assert all(_triple(r.levels[0]) == (0, 0, 0) for r in replies)
    assert [m.delta for m in await _movements(inventory, admin, pid)] == [-1, 1]


# --- reservations -----------------------------------------------------------------------------------


async def test_reserve_commit_release_arithmetic(
    inventory: Stub, admin: Metadata, svc: Metadata, clock: FakeClock
) -> None:
    a, b = new_product_id(), new_product_id()
    await _set(inventory, admin, a, 10)
    await _set(inventory, admin, b, 5)

    held = await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((a, 3), (b, 5))), metadata=svc
    )
    res = held.reservation
    assert res.state == inventory_pb2.RESERVATION_STATE_HELD
    assert sorted((x.product_id, x.quantity) for x in res.lines) == sorted([(a, 3), (b, 5)])
    assert res.expire_time.seconds == clock.now.timestamp() + 900  # the default TTL
    assert await _level(inventory, admin, a) == (10, 3, 7)
    assert await _level(inventory, admin, b) == (5, 5, 0)

    # All lines or none: b has nothing left, so a is not held either.
    code = await _code(
        inventory.Reserve(
            inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((a, 1), (b, 1))),
            metadata=svc,
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert await _level(inventory, admin, a) == (10, 3, 7)

    committed = await inventory.CommitReservation(
        inventory_pb2.CommitReservationRequest(reservation_id=res.id), metadata=svc
    )
    assert committed.reservation.state == inventory_pb2.RESERVATION_STATE_COMMITTED
    assert await _level(inventory, admin, a) == (7, 0, 7)
    assert await _level(inventory, admin, b) == (0, 0, 0)
    (take, _) = await _movements(inventory, admin, a)
    assert (take.delta, take.resulting_on_hand, take.reference, take.actor) == (
        -3,
        7,
        f"reservation:{res.id}",
        "svc:orders",
    )

    # Committing again answers the same and changes nothing; releasing it is refused.
    again = await inventory.CommitReservation(
        inventory_pb2.CommitReservationRequest(reservation_id=res.id), metadata=svc
    )
    assert again.reservation.state == inventory_pb2.RESERVATION_STATE_COMMITTED
    assert await _level(inventory, admin, a) == (7, 0, 7)
    assert len(await _movements(inventory, admin, a)) == 2
    code = await _code(
        inventory.ReleaseReservation(
            inventory_pb2.ReleaseReservationRequest(reservation_id=res.id), metadata=svc
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    second = await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((a, 2))), metadata=svc
    )
    rid = second.reservation.id
    assert await _level(inventory, admin, a) == (7, 2, 5)
    for _ in range(2):  # releasing twice is fine
        released = await inventory.ReleaseReservation(
            inventory_pb2.ReleaseReservationRequest(reservation_id=rid, reason="payment failed"), metadata=svc
        )
        assert released.reservation.state == inventory_pb2.RESERVATION_STATE_RELEASED
        assert await _level(inventory, admin, a) == (7, 0, 7)
    code = await _code(
        inventory.CommitReservation(inventory_pb2.CommitReservationRequest(reservation_id=rid), metadata=svc)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert len(await _movements(inventory, admin, a)) == 2


async def test_reserve_is_idempotent_per_order_reference(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 10)
    request = inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 4)))
    replies = await asyncio.gather(*(inventory.Reserve(request, metadata=svc) for _ in range(8)))
    assert len({r.reservation.id for r in replies}) == 1
    assert await _level(inventory, admin, pid) == (10, 4, 6)
    later = await inventory.Reserve(request, metadata=svc)
    assert later.reservation.id == replies[0].reservation.id
    assert await _level(inventory, admin, pid) == (10, 4, 6)


async def test_concurrent_reserves_never_hold_more_than_available(
    inventory: Stub, admin: Metadata, svc: Metadata
) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 10)
    results = await asyncio.gather(
        *(
            inventory.Reserve(
                inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 3))),
                metadata=svc,
            )
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert await _level(inventory, admin, pid) == (10, 9, 1)


async def test_reservation_ttl_and_expiry(
    inventory: Stub, admin: Metadata, svc: Metadata, clock: FakeClock
) -> None:
    pid = new_product_id()
    await _set(inventory, admin, pid, 10)
    long = await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 1)), ttl_seconds=3600),
        metadata=svc,
    )
    assert long.reservation.expire_time.seconds == clock.now.timestamp() + 3600
    short = await inventory.Reserve(
        inventory_pb2.ReserveRequest(order_reference=_ref(), lines=stock_lines((pid, 2)), ttl_seconds=1),
        metadata=svc,
    )
    assert await _level(inventory, admin, pid) == (10, 3, 7)
    clock.advance(timedelta(seconds=1))
    rid = short.reservation.id
    # Committing after the expiry frees the stock and is refused.
    code = await _code(
        inventory.CommitReservation(inventory_pb2.CommitReservationRequest(reservation_id=rid), metadata=svc)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert await _level(inventory, admin, pid) == (10, 1, 9)
    released = await inventory.ReleaseReservation(
        inventory_pb2.ReleaseReservationRequest(reservation_id=rid), metadata=svc
    )
    assert released.reservation.state == inventory_pb2.RESERVATION_STATE_EXPIRED
    assert await _level(inventory, admin, pid) == (10, 1, 9)


async def test_unknown_reservation_is_not_found(inventory: Stub, svc: Metadata) -> None:
    rid = str(uuid4())
    assert (
        await _code(
            inventory.CommitReservation(
                inventory_pb2.CommitReservationRequest(reservation_id=rid), metadata=svc
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        await _code(
            inventory.ReleaseReservation(
                inventory_pb2.ReleaseReservationRequest(reservation_id=rid), metadata=svc
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )


async def test_movements_page_newest_first(inventory: Stub, admin: Metadata, svc: Metadata) -> None:
    pid = new_product_id()
    for on_hand in (1, 2, 3, 4, 5):
        await _set(inventory, admin, pid, on_hand * 10)
    seen: list[int] = []
    token = ""
    while True:
        page = await inventory.ListMovements(
            inventory_pb2.ListMovementsRequest(product_id=pid, page_size=2, page_token=token), metadata=admin
        )
        assert len(page.movements) <= 2
        seen += [m.resulting_on_hand for m in page.movements]
        token = page.next_page_token
        if not token:
            break
    assert seen == [50, 40, 30, 20, 10]
    everything = await inventory.ListMovements(
        inventory_pb2.ListMovementsRequest(page_size=5), metadata=admin
    )
    assert len(everything.movements) == 5
    ids = [m.id for m in everything.movements]
    assert ids == sorted(ids, reverse=True)
