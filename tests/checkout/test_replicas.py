"""Two orders replicas side by side: their recovery passes settle a stuck order once. A charge whose
answer was lost leaves a failed order with money taken; with two orders processes running recovery
every 50 ms, the customer gets one refund and the order's history says so once."""

from __future__ import annotations

import asyncio

from gateway.conftest import Api
from services.kit.server import start
from services.orders import service as orders_service
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2
from tests.checkout.conftest import Tokens, restart
from tests.checkout.test_checkout import (
    _captured,
    _fill,
    _latest_order_id,
    _payments,
    _payments_that_charge_then,
    _product,
    _until,
)
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import bearer

EAGER = {"recovery_after_seconds": 0, "recovery_interval_seconds": 0.05}


async def test_two_orders_replicas_refund_a_lost_charge_once(
    http: Api, people: Tokens, platform: Platform
) -> None:
    async def die() -> None:
        asyncio.get_running_loop().create_task(platform.stop("payments"))
        await asyncio.sleep(30)

    product_id = await _product(http, people, stock=5)
    _, token = people.customer()
    await _fill(http, token, product_id, 1)
    await _payments_that_charge_then(platform, die)
    try:
        reply = await http.post("/orders/", token=token)
    finally:
        await platform.stop("payments")
        await platform.start("payments")
    assert reply.status == 503, reply
    order_id = await _latest_order_id(http, token)
    (charged,) = _captured(await _payments(platform, people, order_id))

    await restart(platform, "orders", **EAGER)
    second = await start(platform.settings("orders", grpc_port=free_port(), **EAGER), orders_service.build)
    try:

        async def refunded() -> bool:
            statuses = [p.status for p in await _payments(platform, people, order_id)]
            return payments_pb2.PAYMENT_STATUS_REFUNDED in statuses

        await _until(refunded)
        await asyncio.sleep(0.5)  # ten more passes of each: nothing is settled again
    finally:
        await second.stop(grace=0)
        await restart(platform, "orders")
    (payment,) = [p for p in await _payments(platform, people, order_id) if p.id == charged.id]
    assert payment.refunded.amount_minor == charged.amount.amount_minor
    assert [e.type for e in payment.events].count("refunded") == 1
    stub = platform.stub(orders_pb2_grpc.OrdersServiceStub, "orders")
    order = (
        await stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id), metadata=bearer(people.admin))
    ).order
    assert [e.note for e in order.events if "refunded" in e.note] == [
        f"payment {charged.id} refunded: the order did not complete"
    ]
