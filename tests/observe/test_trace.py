"""One checkout is one trace: the gateway's request span, the gRPC spans of orders, inventory and
payments under it, their SQL and Redis spans, the checkout's step spans, and the activity
consumer's span for the order's event, every span parent-linked up to the gateway's.

Real HTTP to the gateway on a real port, real services in this process, spans collected by an
in-memory exporter added to the process's SDK tracer provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

from gateway.conftest import Api
from tests.support.polling import eventually
from tests.support.tokens import TokenFactory


class _Switch(Sampler):
    """Samples everything while on; off, spans cost what the no-op API's do (the rest of the suite)."""

    on = True

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return (ALWAYS_ON if self.on else ALWAYS_OFF).should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "on while the trace tests run"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    switch = _Switch()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        # Tracers made before this (the kit's, the instrumentations') are proxies that follow it.
        provider = TracerProvider(sampler=switch)
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    switch.on = False
    exporter.shutdown()  # the processor stays registered; a shut exporter drops what it gets


def _is_rpc(span: ReadableSpan, method: str) -> bool:
    return span.kind is SpanKind.SERVER and span.name.endswith(method)


def _is_sql(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return (
        span.kind is SpanKind.CLIENT
        and ("db.system" in attributes or "db.system.name" in attributes)
        and (attributes.get("db.system") != "redis" and attributes.get("db.system.name") != "redis")
    )


def _is_redis(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return span.kind is SpanKind.CLIENT and "redis" in (
        str(attributes.get("db.system", "")),
        str(attributes.get("db.system.name", "")),
    )


@pytest.mark.usefixtures("spans")
async def test_a_checkout_is_one_trace_down_to_sql_redis_and_the_stream_consumer(
    http: Api, tokens: TokenFactory, spans: InMemorySpanExporter
) -> None:
    admin = tokens.admin()
    product = await http.post(
        "/products/", {"name": f"Traced {uuid4().hex[:8]}", "price": 4.5, "stock": 5}, token=admin
    )
    assert product.status == 201, product
    customer = tokens.customer(int(uuid4().int % 10**12) + 1)
    added = await http.post("/cart/", {"product_id": product.body["id"], "quantity": 2}, token=customer)
    assert added.status == 201, added
    spans.clear()

    placed = await http.post("/orders/", token=customer)
    assert placed.status == 201, placed

    def finished() -> list[ReadableSpan]:
        return list(spans.get_finished_spans())

    (request,) = [s for s in finished() if s.kind is SpanKind.SERVER and s.name == "POST /api/orders/"]
    trace_id = request.context.trace_id

    def in_trace() -> dict[int, ReadableSpan]:
        return {s.context.span_id: s for s in finished() if s.context.trace_id == trace_id}

    # The order's activity event reaches the consumer through the Redis stream, a moment later.
    async def consumers() -> list[ReadableSpan]:
        return [s for s in in_trace().values() if s.kind is SpanKind.CONSUMER]

    consumed = await eventually(consumers)  # a consumer span joins the checkout's trace

    found = in_trace()

    def ancestors(span: ReadableSpan) -> list[ReadableSpan]:
        chain = []
        while span.parent is not None:
            parent = found.get(span.parent.span_id)
            assert parent is not None, f"{span.name}'s parent is not in the trace"
            chain.append(parent)
            span = parent
        return chain

    # Parent-linked: every span's parents are in the trace, up to the gateway's request span.
    for span in found.values():
        assert span is request or request in ancestors(span), span.name

    def under(rpc: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in found.values() if rpc in ancestors(s)]

    orders = [s for s in found.values() if _is_rpc(s, "OrdersService/CreateOrder")]
    reserve = [s for s in found.values() if _is_rpc(s, "InventoryService/Reserve")]
    charge = [s for s in found.values() if _is_rpc(s, "PaymentsService/Charge")]
    cart = [s for s in found.values() if _is_rpc(s, "CartService/GetCart")]
    assert orders, sorted(s.name for s in found.values())
    assert reserve, sorted(s.name for s in found.values())
    assert charge, sorted(s.name for s in found.values())
    assert cart, sorted(s.name for s in found.values())
    # The catalog's product read runs on a reader thread on SQLite: its statements keep the trace.
    catalog = [s for s in found.values() if s.kind is SpanKind.SERVER and "CatalogService/" in s.name]
    assert catalog, sorted(s.name for s in found.values())
    for rpc in (orders[0], reserve[0], charge[0], catalog[0]):
        assert any(_is_sql(s) for s in under(rpc)), f"no SQL span under {rpc.name}"
    assert any(_is_redis(s) for s in under(cart[0])), "no Redis span under the cart's GetCart"
    # The checkout's business steps, inside the orders span.
    steps = {s.name for s in under(orders[0])}
    assert {"checkout.reserve", "checkout.pay", "checkout.mark_paid"} <= steps, steps
    # The consumer's span hangs off the gateway's request, and stored the event with SQL.
    (consumer,) = consumed
    assert request in ancestors(consumer)
    assert consumer.parent is not None
    producer = consumer.parent.span_id
    assert any(
        s.kind is SpanKind.CONSUMER and any(link.context.span_id == producer for link in s.links)
        for s in finished()
    ), "no batch span linked to the event's producer"
