"""The activity stream's entry contract: what a producer writes is what the consumer reads,
including the trace it came from; anything else is refused as malformed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from opentelemetry import trace

from services.kit import activity_stream as stream
from shop.activity.v1 import stream_pb2

SAMPLED = trace.SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=False,
    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
)


def test_an_event_and_its_trace_survive_the_stream() -> None:
    sent = stream.StreamEvent(
        type=stream.TYPES_BY_NAME["order_placed"],
        user_id=7,
        product_id=11,
        quantity=2,
        occurred_at=datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
        attributes={"order_id": "17"},
        trace_context=SAMPLED,
    )
    fields = sent.fields()
    assert list(fields) == [stream.FIELD]
    # The wire format is the protobuf contract, W3C traceparent included.
    entry = stream_pb2.StreamEntry.FromString(base64.b64decode(fields[stream.FIELD]))
    assert entry.trace_context["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    got = stream.decode(fields)
    assert (got.type, got.user_id, got.product_id, got.quantity) == (sent.type, 7, 11, 2)
    assert got.occurred_at == sent.occurred_at
    assert got.attributes == {"order_id": "17"}
    assert got.trace_context.trace_id == SAMPLED.trace_id
    assert got.trace_context.span_id == SAMPLED.span_id
    assert got.trace_context.is_remote
    assert got.trace_context.trace_flags.sampled
    assert trace.get_current_span(got.parent()).get_span_context() == got.trace_context


def test_an_event_without_a_trace_carries_none() -> None:
    got = stream.decode(stream.StreamEvent(type=stream.TYPES_BY_NAME["searched"], query="socks").fields())
    assert got.query == "socks"
    assert not got.trace_context.is_valid


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"e": '{"t":"product_viewed","u":1,"p":2,"at":0}'},  # the retired JSON format
        {stream.FIELD: "not base64!"},
        {stream.FIELD: base64.b64encode(b"\xff\xff").decode()},
        {stream.FIELD: base64.b64encode(stream_pb2.StreamEntry().SerializeToString()).decode()},
    ],
)
def test_anything_else_is_malformed(fields: dict[str, str]) -> None:
    with pytest.raises(stream.MalformedEntry):
        stream.decode(fields)
