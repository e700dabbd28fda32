"""Checkout acceptance: never oversells, never double-charges, every failure leaves things as
they were, and a checkout killed half-way is finished or rolled back. Real HTTP through the
gateway to the real services, on SQLite or PostgreSQL (SHOP_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest

from gateway.conftest import Api, Reply
from services.orders.downstream import Downstream
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.checkout.conftest import SWEEP_SECONDS, Tokens, restart
from tests.support.cards import tokenize
from tests.support.harness import Platform
from tests.support.tokens import bearer

DECLINED = "4000000000000002"
TIMES_OUT = "4000000000000119"


async def _tokenized(platform: Platform, number: str) -> dict[str, Any]:
    """The checkout body's payment for a card tokenized at payments' endpoint (as a browser does)."""
    return {"token": await tokenize(platform, number)}


async def _product(http: Api, people: Tokens, stock: int, price: float = 10.0) -> int:
    reply = await http.post(
        "/products/",
        {"name": f"Thing {uuid4().hex[:8]}", "price": price, "description": "a thing", "stock": stock},
        token=people.admin,
    )
    assert reply.status == 201, reply
    product_id: int = reply.body["id"]
    return product_id


async def _fill(http: Api, token: str, product_id: int, quantity: int) -> None:
    reply = await http.post("/cart/", {"product_id": product_id, "quantity": quantity}, token=token)
    assert reply.status == 201, reply


async def _cart(http: Api, token: str) -> dict[int, int]:
    reply = await http.get("/cart/", token=token)
    assert reply.status == 200, reply
    return {line["product_id"]: line["quantity"] for line in reply.body.values()}


async def _level(platform: Platform, tokens: Tokens, product_id: int) -> tuple[int, int]:
    """(on_hand, reserved)."""
    stub = platform.stub(inventory_pb2_grpc.InventoryServiceStub, "inventory")
    reply = await stub.GetStock(
        inventory_pb2.GetStockRequest(product_id=product_id), metadata=bearer(tokens.admin)
    )
    return reply.level.on_hand, reply.level.reserved


async def _movements(http: Api, people: Tokens, product_id: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params = {"page_size": "200"}
    while True:
        reply = await http.get(f"/inventory/{product_id}/movements/", token=people.admin, params=params)
        assert reply.status == 200, reply
        found.extend(reply.body["movements"])
        if not reply.body["next_page_token"]:
            return found
        assert reply.headers["X-Next-Page-Token"] == reply.body["next_page_token"]
        params = {"page_size": "200", "page_token": reply.body["next_page_token"]}


async def _payments(platform: Platform, people: Tokens, order_id: int) -> list[payments_pb2.Payment]:
    stub = platform.stub(payments_pb2_grpc.PaymentsServiceStub, "payments")
    reply = await stub.ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}"),
        metadata=bearer(people.factory.service("test")),
        wait_for_ready=True,  # payments may just have been restarted
    )
    return list(reply.payments)


async def _orders_of(http: Api, token: str) -> list[dict[str, Any]]:
    reply = await http.get("/orders/", token=token)
    assert reply.status == 200, reply
    orders: list[dict[str, Any]] = reply.body["orders"]
    return orders


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _captured(payments: list[payments_pb2.Payment]) -> list[payments_pb2.Payment]:
    return [p for p in payments if p.status == payments_pb2.PAYMENT_STATUS_CAPTURED]


# --- never oversells ---------------------------------------------------------------------------


async def test_200_concurrent_checkouts_for_50_units_sell_exactly_50(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=50)
    customers = [people.customer() for _ in range(200)]
    await asyncio.gather(*(_fill(http, token, product_id, 1) for _, token in customers))

    go = asyncio.Event()

    async def checkout(token: str) -> Reply:
        await go.wait()
        return await http.post("/orders/", token=token)

    tasks = [asyncio.create_task(checkout(token)) for _, token in customers]
    await asyncio.sleep(0)
    go.set()
    replies = await asyncio.gather(*tasks)

    created = [r for r in replies if r.status == 201]
    refused = [r for r in replies if r.status != 201]
    assert len(created) == 50, sorted({(r.status, str(r.body)) for r in refused})
    assert len(refused) == 150
    for reply in refused:
        assert reply.status == 409, reply
        assert reply.body["error"].startswith("insufficient stock"), reply
    assert len({r.body["order_id"] for r in created}) == 50

    # Stock ends at 0, nothing left held, and never went below 0 on the way.
    assert await _level(platform, people, product_id) == (0, 0)
    listed = await http.get("/inventory/", token=people.admin)
    assert listed.body[str(product_id)] == 0
    movements = await _movements(http, people, product_id)
    assert all(m["resulting_on_hand"] >= 0 for m in movements)
    stocked = [m for m in movements if m["delta"] > 0]
    sold = [m for m in movements if m["delta"] < 0]
    assert sum(m["delta"] for m in stocked) == 50
    assert sum(m["delta"] for m in sold) == -50
    assert sum(m["delta"] for m in movements) == 0  # from 0 to 50 and back to 0

    # Each paid order was charged exactly once; the refused carts are untouched.
    charged = await asyncio.gather(*(_payments(platform, people, r.body["order_id"]) for r in created))
    assert all(len(_captured(payments)) == 1 for payments in charged)

    async def outcome(token: str) -> tuple[str, dict[int, int]]:
        orders = await _orders_of(http, token)
        assert len(orders) == 1
        return orders[0]["status"], await _cart(http, token)

    outcomes = await asyncio.gather(*(outcome(token) for _, token in customers))
    assert sorted(outcomes, key=str) == sorted(
        [("paid", {})] * 50 + [("failed", {product_id: 1})] * 150, key=str
    )


# --- never double-charges ----------------------------------------------------------------------


async def test_one_idempotency_key_sent_20_times_at_once_makes_one_order_and_one_charge(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=10)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    key = f"key-{uuid4().hex}"
    replies = await asyncio.gather(
        *(http.post("/orders/", token=token, headers={"Idempotency-Key": key}) for _ in range(20))
    )
    assert {r.status for r in replies} == {201}, [r for r in replies if r.status != 201]
    order_ids = {r.body["order_id"] for r in replies}
    assert len(order_ids) == 1
    (order_id,) = order_ids
    payments = await _payments(platform, people, order_id)
    assert len(payments) == 1
    assert len(_captured(payments)) == 1
    assert await _level(platform, people, product_id) == (8, 0)
    # Once more, later: still the same order, nothing charged again.
    again = await http.post("/orders/", token=token, headers={"Idempotency-Key": key})
    assert (again.status, again.body["order_id"]) == (201, order_id)
    assert len(await _payments(platform, people, order_id)) == 1
    assert len(await _orders_of(http, token)) == 1


# --- failures leave everything as it was -------------------------------------------------------


async def _assert_untouched(
    http: Api, people: Tokens, platform: Platform, token: str, product_id: int, quantity: int
) -> None:
    assert await _level(platform, people, product_id) == (5, 0)
    assert await _cart(http, token) == {product_id: quantity}
    orders = await _orders_of(http, token)
    assert orders
    assert all(o["status"] == "failed" for o in orders), orders
    for order in orders:
        assert not _captured(await _payments(platform, people, order["order_id"]))


@pytest.mark.parametrize(
    ("card", "status", "error"),
    [(DECLINED, 409, "card declined"), (TIMES_OUT, 503, "payment provider timed out")],
)
async def test_a_failed_payment_leaves_stock_and_cart_as_they_were(
    http: Api, people: Tokens, platform: Platform, card: str, status: int, error: str
) -> None:
    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    reply = await http.post("/orders/", {"payment": await _tokenized(platform, card)}, token=token)
    assert (reply.status, reply.body) == (status, {"error": error})
    await _assert_untouched(http, people, platform, token, product_id, 2)


async def test_payments_down_leaves_stock_and_cart_as_they_were(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 3)
    await platform.stop("payments")
    try:
        reply = await http.post("/orders/", token=token)
    finally:
        await platform.start("payments")
    assert (reply.status, reply.body) == (503, {"error": "payment service unavailable"})
    await _assert_untouched(http, people, platform, token, product_id, 3)
    # Payments back: the same cart checks out.
    retried = await http.post("/orders/", token=token)
    assert retried.status == 201, retried


# --- a checkout killed half-way ----------------------------------------------------------------


class Crash(Exception):
    """Stands for the process dying at that point: nothing after it runs, nothing is undone."""


Charge = Callable[[payments_pb2.ChargeRequest], Awaitable[payments_pb2.Payment]]
# What orders' charge step does instead, given the real charge: it may call it, then crash.
ChargeStep = Callable[[Charge, payments_pb2.ChargeRequest], Awaitable[payments_pb2.Payment]]
CrashingOrders = Callable[[ChargeStep], Awaitable[Platform]]


@pytest.fixture
async def crashing_orders(platform: Platform) -> AsyncIterator[CrashingOrders]:
    """Restarts orders with short holds, calling payments through a Downstream whose charge runs
    the test's step (which crashes at its chosen point). Afterwards orders runs again as the rest
    of the suite expects."""
    from services.kit.server import start
    from services.orders import service as orders_service

    async def start_with(step: ChargeStep) -> Platform:
        class Crashing(Downstream):
            async def charge(self, request: payments_pb2.ChargeRequest) -> payments_pb2.Payment:
                return await step(super().charge, request)

        await platform.stop("orders")
        settings = platform.settings(
            "orders", checkout_hold_seconds=1, payment_hold_seconds=1, recovery_interval_seconds=0
        )
        platform.running["orders"] = await start(
            settings, lambda runtime: orders_service.build_with(runtime, Crashing)
        )
        await asyncio.wait_for(platform.channel("orders").channel_ready(), timeout=10)
        return platform

    try:
        yield start_with
    finally:
        await restart(platform, "orders")


async def _restart_with_recovery(platform: Platform) -> None:
    """A fresh orders process: its start-up recovery pass takes any PENDING order."""
    await restart(platform, "orders", recovery_after_seconds=0, recovery_interval_seconds=0)


async def _status(platform: Platform, people: Tokens, order_id: int) -> int:
    stub = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    reply = await stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id), metadata=bearer(people.admin))
    return int(reply.order.status)


async def _latest_order_id(http: Api, token: str) -> int:
    orders = await _orders_of(http, token)
    order_id: int = orders[0]["order_id"]
    return order_id


async def test_killed_before_the_charge_the_order_is_rolled_back_and_the_stock_freed(
    http: Api, people: Tokens, crashing_orders: CrashingOrders
) -> None:
    async def crash(charge: Charge, request: payments_pb2.ChargeRequest) -> payments_pb2.Payment:
        raise Crash("killed between reserve and charge")

    platform = await crashing_orders(crash)
    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    reply = await http.post("/orders/", token=token)
    assert reply.status == 500, reply
    order_id = await _latest_order_id(http, token)
    assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_PENDING
    await platform.stop("orders")  # the process is gone; the hold is still there

    # Even with orders down, the hold expires (1 s TTL) and inventory's sweeper frees the stock.
    async def freed() -> bool:
        return await _level(platform, people, product_id) == (5, 0)

    await _until(freed)

    await _restart_with_recovery(platform)

    async def settled() -> bool:
        return await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_FAILED

    await _until(settled)
    assert await _level(platform, people, product_id) == (5, 0)
    assert await _cart(http, token) == {product_id: 2}
    assert not await _payments(platform, people, order_id)
    # The cart checks out normally now.
    assert (await http.post("/orders/", token=token)).status == 201
    assert await _level(platform, people, product_id) == (3, 0)


async def test_killed_after_the_charge_the_order_is_completed(
    http: Api, people: Tokens, crashing_orders: CrashingOrders
) -> None:
    async def charge_then_crash(charge: Charge, request: payments_pb2.ChargeRequest) -> payments_pb2.Payment:
        await charge(request)
        raise Crash("killed between charge and commit")

    platform = await crashing_orders(charge_then_crash)
    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    reply = await http.post("/orders/", token=token)
    assert reply.status == 500, reply
    order_id = await _latest_order_id(http, token)
    await platform.stop("orders")

    await _restart_with_recovery(platform)

    async def settled() -> bool:
        return await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_PAID

    await _until(settled)
    # Paid once, stock taken once (whether the 1 s hold was still there or had been swept).
    assert len(_captured(await _payments(platform, people, order_id))) == 1
    assert await _level(platform, people, product_id) == (3, 0)
    movements = await _movements(http, people, product_id)
    assert sum(m["delta"] for m in movements) == 3
    assert await _cart(http, token) == {}


async def _payments_that_charge_then(platform: Platform, then: Callable[[], Awaitable[None]]) -> None:
    """Restarts payments so that every Charge, once made, runs `then` before it answers. The caller
    restarts payments as usual afterwards."""
    from services.kit.server import start
    from services.payments import service as payments_service

    async def build(runtime: Any) -> Any:
        registrations = await payments_service.build(runtime)
        servicer = registrations[0].servicer
        charge = servicer.Charge

        async def charge_then(request: Any, context: Any) -> Any:
            reply = await charge(request, context)
            await then()
            return reply

        servicer.Charge = charge_then
        return registrations

    await platform.stop("payments")
    platform.running["payments"] = await start(platform.settings("payments"), build)


async def test_a_charge_that_times_out_is_settled_by_recovery_not_guessed(
    http: Api, people: Tokens, platform: Platform
) -> None:
    """Payments charges the card but answers too late: the order must neither be failed with the
    money taken nor paid on a guess. It stays PENDING with its hold, and recovery finds the charge."""

    async def stall() -> None:
        await asyncio.sleep(3)  # the answer comes after orders stopped waiting

    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    await _payments_that_charge_then(platform, stall)
    await restart(platform, "orders", rpc_timeout_seconds=1.5, recovery_interval_seconds=0)
    try:
        reply = await http.post("/orders/", token=token)
        assert reply.status == 503, reply
        assert "outcome is not known" in reply.body["error"]
        order_id = await _latest_order_id(http, token)
        assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_PENDING
        assert await _level(platform, people, product_id) == (5, 2)  # still held, not released
    finally:
        await platform.stop("payments")
        await platform.start("payments")
    await _restart_with_recovery(platform)

    async def settled() -> bool:
        return await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_PAID

    await _until(settled)
    assert len(_captured(await _payments(platform, people, order_id))) == 1
    assert await _level(platform, people, product_id) == (3, 0)
    assert await _cart(http, token) == {}  # bought once: the cart does not stay to be bought again
    await restart(platform, "orders")


async def test_a_charge_whose_answer_is_lost_is_refunded_by_recovery(
    http: Api, people: Tokens, platform: Platform
) -> None:
    """Payments charges the card and dies before answering; the retry finds it down. Orders cannot
    tell that from "never charged": the customer gets the payments-down error with stock and cart
    as they were, and once payments is back the recovery pass refunds the charge it finds."""

    async def die() -> None:
        # The process goes away with the answer unsent: the server stops, cutting this call.
        asyncio.get_running_loop().create_task(platform.stop("payments"))
        await asyncio.sleep(30)

    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    await _payments_that_charge_then(platform, die)
    try:
        reply = await http.post("/orders/", token=token)
    finally:
        await platform.stop("payments")
        await platform.start("payments")
    assert (reply.status, reply.body) == (503, {"error": "payment service unavailable"})
    order_id = await _latest_order_id(http, token)
    assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_FAILED
    assert await _level(platform, people, product_id) == (5, 0)
    assert await _cart(http, token) == {product_id: 2}
    (charged,) = _captured(await _payments(platform, people, order_id))  # yet the money was taken

    await _restart_with_recovery(platform)

    async def refunded() -> bool:
        statuses = [p.status for p in await _payments(platform, people, order_id)]
        return payments_pb2.PAYMENT_STATUS_REFUNDED in statuses

    await _until(refunded)
    await restart(platform, "orders")
    (payment,) = [p for p in await _payments(platform, people, order_id) if p.id == charged.id]
    assert payment.refunded.amount_minor == charged.amount.amount_minor > 0
    assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_FAILED
    assert await _level(platform, people, product_id) == (5, 0)


async def test_a_checkout_cancelled_and_then_killed_after_the_charge_is_refunded(
    http: Api, people: Tokens, crashing_orders: CrashingOrders
) -> None:
    _, token = people.customer()
    cancelled: list[int] = []

    async def cancelled_meanwhile_then_crash(
        charge: Charge, request: payments_pb2.ChargeRequest
    ) -> payments_pb2.Payment:
        await charge(request)
        order_id = request.order_reference.removeprefix("order:")
        reply = await http.post(f"/orders/{order_id}/cancel", token=token)
        cancelled.append(reply.status)
        raise Crash("killed after the charge, before it saw the cancel")

    platform = await crashing_orders(cancelled_meanwhile_then_crash)
    product_id = await _product(http, people, stock=5)
    await _fill(http, token, product_id, 2)
    reply = await http.post("/orders/", token=token)
    assert reply.status == 500, reply
    assert cancelled == [200]
    order_id = await _latest_order_id(http, token)
    assert len(_captured(await _payments(platform, people, order_id))) == 1
    await platform.stop("orders")

    await _restart_with_recovery(platform)

    async def refunded() -> bool:
        statuses = [p.status for p in await _payments(platform, people, order_id)]
        return statuses.count(payments_pb2.PAYMENT_STATUS_REFUNDED) == 1

    await _until(refunded)
    assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_CANCELLED

    async def freed() -> bool:  # the 1 s hold expires and is swept
        return await _level(platform, people, product_id) == (5, 0)

    await _until(freed)
    assert await _cart(http, token) == {product_id: 2}


async def test_stock_of_an_order_cancelled_while_inventory_was_down_goes_back_later(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 2)
    placed = await http.post("/orders/", token=token)
    assert placed.status == 201, placed
    order_id = placed.body["order_id"]
    assert await _level(platform, people, product_id) == (3, 0)

    await platform.stop("inventory")
    try:
        cancelled = await http.post(f"/orders/{order_id}/cancel", token=token)
    finally:
        await restart(platform, "inventory", sweep_interval_seconds=SWEEP_SECONDS)
    # The money goes back at once; the goods as soon as inventory can take them.
    assert (cancelled.status, cancelled.body) == (200, {"message": "Order canceled and refunded"})
    assert await _status(platform, people, order_id) == orders_pb2.ORDER_STATUS_CANCELLED
    assert [p.status for p in await _payments(platform, people, order_id)] == [
        payments_pb2.PAYMENT_STATUS_REFUNDED
    ]
    assert await _level(platform, people, product_id) == (3, 0)

    await _restart_with_recovery(platform)

    async def restocked() -> bool:
        return await _level(platform, people, product_id) == (5, 0)

    await _until(restocked)
    await restart(platform, "orders")
    assert sum(m["delta"] for m in await _movements(http, people, product_id)) == 5


# --- the REST surface around orders ------------------------------------------------------------


async def test_customers_page_their_orders_newest_first_and_admins_filter_by_status(
    http: Api, people: Tokens
) -> None:
    product_id = await _product(http, people, stock=10)
    _, token = people.customer()
    order_ids = []
    for _ in range(3):
        await _fill(http, token, product_id, 1)
        created = await http.post("/orders/", token=token)
        assert created.status == 201, created
        order_ids.append(created.body["order_id"])

    first = await http.get("/orders/", token=token, params={"page_size": "2"})
    assert [o["order_id"] for o in first.body["orders"]] == order_ids[::-1][:2]
    token_next = first.body["next_page_token"]
    assert token_next
    assert first.headers["X-Next-Page-Token"] == token_next
    rest = await http.get("/orders/", token=token, params={"page_size": "2", "page_token": token_next})
    assert [o["order_id"] for o in rest.body["orders"]] == order_ids[:1]
    assert rest.body["next_page_token"] is None

    cancelled = await http.post(f"/orders/{order_ids[0]}/cancel", token=token)
    assert (cancelled.status, cancelled.body) == (200, {"message": "Order canceled and refunded"})
    filtered = await http.get(
        "/orders/", token=people.admin, params={"status": "cancelled", "page_size": "200"}
    )
    assert filtered.status == 200
    assert {o["status"] for o in filtered.body["orders"]} == {"cancelled"}
    assert order_ids[0] in {o["order_id"] for o in filtered.body["orders"]}
    mine = await http.get("/orders/", token=token, params={"status": "paid"})
    assert [o["order_id"] for o in mine.body["orders"]] == order_ids[:0:-1]
    bad = await http.get("/orders/", token=token, params={"status": "lost"})
    assert bad.status == 400
    assert "status must be one of" in bad.body["error"]


async def test_cancel_is_refused_with_409_once_the_order_has_shipped(
    http: Api, people: Tokens, platform: Platform
) -> None:
    product_id = await _product(http, people, stock=10)
    _, token = people.customer()
    await _fill(http, token, product_id, 1)
    order_id = (await http.post("/orders/", token=token)).body["order_id"]
    stub = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    await stub.UpdateOrderStatus(
        orders_pb2.UpdateOrderStatusRequest(id=order_id, status=orders_pb2.ORDER_STATUS_SHIPPED),
        metadata=bearer(people.factory.service("shipping")),
    )
    reply = await http.post(f"/orders/{order_id}/cancel", token=token)
    assert (reply.status, reply.body) == (
        409,
        {"error": "the order is shipped and can no longer be cancelled"},
    )
    assert await _level(platform, people, product_id) == (9, 0)


async def test_low_stock_products_and_movements_are_listed_for_admins(http: Api, people: Tokens) -> None:
    product_id = await _product(http, people, stock=7)
    _, token = people.customer()
    await _fill(http, token, product_id, 3)
    assert (await http.post("/orders/", token=token)).status == 201  # 4 left, threshold 5

    found: dict[int, dict[str, Any]] = {}
    params = {"page_size": "500"}
    while True:
        reply = await http.get("/inventory/low-stock/", token=people.admin, params=params)
        assert reply.status == 200, reply
        found.update({p["product_id"]: p for p in reply.body["products"]})
        if not reply.body["next_page_token"]:
            break
        params = {"page_size": "500", "page_token": reply.body["next_page_token"]}
    assert found[product_id] == {
        "product_id": product_id,
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "low_stock_threshold": 5,
    }
    movements = await _movements(http, people, product_id)
    assert [(m["delta"], m["resulting_on_hand"]) for m in movements] == [(-3, 4), (7, 7)]
    assert movements[0]["reference"].startswith("reservation:")
    for path in ("/inventory/low-stock/", f"/inventory/{product_id}/movements/"):
        denied = await http.get(path, token=token)
        assert (denied.status, denied.body) == (403, {"error": "Admin role required"})
