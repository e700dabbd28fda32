"""Card data goes to payments' tokenization endpoint and nowhere else.

A customer pays through the real gateway with a card tokenized at the endpoint a browser would use
(real HTTP, the real services and storage: SQLite files or PostgreSQL, embedded or external Redis).
Then the card's number and CVC must be in no log record of the run (captured at DEBUG, SQL
statements and their parameters included), in no table of any service database and in no Redis
key. tests/support/leaks.py says how the number and the CVC are looked for and why a hit cannot be
chance, nor a miss a blind spot: the detectors are first shown to find the card where it is.
"""

from __future__ import annotations

import json
from uuid import uuid4

from gateway.conftest import Api
from services.kit.config import SERVICE_PORTS
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.checkout.conftest import Tokens
from tests.support.cards import card, post_card, tokenize
from tests.support.harness import Platform
from tests.support.leaks import (
    Haystack,
    captured_logs,
    card_number_found,
    cvc_found,
    dump_databases,
    dump_redis,
    pick_cvc,
    random_card_number,
)
from tests.support.tokens import bearer


async def _storage(platform: Platform) -> list[Haystack]:
    """Every table of every service database, and every Redis key of this run."""
    urls = [platform.settings(name).resolved_database_url() for name in SERVICE_PORTS]
    return [*await dump_databases(urls), *await dump_redis(platform.redis_url, platform.redis_prefix)]


def test_the_detectors_find_card_data_where_it_is() -> None:
    number, cvc = random_card_number(), "0317"
    body = Haystack("a logged body", json.dumps(card(number, cvc=cvc)))
    assert card_number_found([body], number) == ["a logged body"]
    spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    assert card_number_found([Haystack("spaced", f"card {spaced} ok")], number) == ["spaced"]
    assert cvc_found([body], cvc) == ["a logged body"]
    assert cvc_found([Haystack("row", cvc)], cvc) == ["row"]
    assert cvc_found([Haystack("payments: cards.security_code row 0", "x")], cvc)
    # ...and not where it only looks alike.
    near = "2026-03-17T10:03:17.0317Z id=103170 0.0317 a0317 uuid 1a2b-0317-4c 0317_ cache:0317"
    assert cvc_found([Haystack("log", near)], cvc) == []
    masked = f"{number[:6]}******{number[-4:]}"  # what providers may show: first six, last four
    assert card_number_found([Haystack("log", masked)], number) == []


async def test_no_log_line_or_table_holds_the_card_number_or_cvc(
    http: Api, people: Tokens, platform: Platform
) -> None:
    number = random_card_number()
    cvc = pick_cvc(await _storage(platform))
    reply = await http.post(
        "/products/", {"name": f"Safe {uuid4().hex[:8]}", "price": 12.0, "stock": 3}, token=people.admin
    )
    product_id = reply.body["id"]
    user_id, customer = people.customer()
    assert (
        await http.post("/cart/", {"product_id": product_id, "quantity": 1}, token=customer)
    ).status == 201

    with captured_logs() as logs:
        token = await tokenize(platform, number, exp_month=11, exp_year=2031, cvc=cvc)
        # The card sent the wrong ways on the way too: straight to the gateway, and an expired one.
        sent = await http.post("/orders/", {"payment": {"card": card(number, cvc=cvc)}}, token=customer)
        assert sent.status == 400, sent
        port = platform.http_port("payments", "tokens")
        assert (await post_card(port, card(number, exp_year=2020, cvc=cvc)))[0] == 400
        paid = await http.post("/orders/", {"payment": {"token": token}}, token=customer)
        assert paid.status == 201, paid

    order_id = paid.body["order_id"]
    payments = await platform.stub(payments_pb2_grpc.PaymentsServiceStub, "payments").ListPayments(
        payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}"),
        metadata=bearer(people.factory.service("test")),
    )
    assert [(p.status, p.card_last4, p.user_id) for p in payments.payments] == [
        (payments_pb2.PAYMENT_STATUS_CAPTURED, number[-4:], user_id)
    ]
    logged = logs.haystacks()
    # The capture saw the whole checkout: the tokenization, the gateway, payments' SQL.
    assert any("/v1/tokens" in h.text for h in logged)
    assert any('"path": "/api/orders/"' in h.text for h in logged)
    assert any("INSERT INTO card_tokens" in h.text for h in logged)

    stored = await _storage(platform)
    # The dump reached every store the checkout wrote to.
    dumped = " ".join(h.where for h in stored)
    for table in ("card_tokens columns", "payments columns", "orders columns", "order_events columns"):
        assert table in dumped
    assert "redis " in dumped
    everywhere = logged + stored
    assert card_number_found(everywhere, number) == []
    assert cvc_found(everywhere, cvc) == []
