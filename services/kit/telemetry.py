"""Tracing and metrics set up once per process.

Tracing uses the OpenTelemetry SDK configured by the standard `OTEL_*` variables: spans are
exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-specific one) is set. Without
an exporter (and without OTEL_TRACES_SAMPLER) no span is recorded: the spans are dropped at the
sampler, which keeps their ids, so logs still carry trace ids and calls still propagate them.
Sampling follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (the SDK reads them; default
parentbased_always_on with an exporter), e.g. `parentbased_traceidratio` with `0.1` keeps one
trace in ten, decided once at the gateway.

Every SQL statement and Redis command gets a client span from the standard instrumentations,
attached per engine and per client (`trace_engine`, `trace_redis`) where the kit creates them.

Metrics are Prometheus RED metrics served on each process's own metrics port: the server side
here and in the interceptor, the client side (what a caller saw, by target) in `clients.py`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from prometheus_client import Counter, Histogram, start_http_server
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RPC_REQUESTS = Counter(
    "shop_rpc_server_requests_total", "gRPC requests handled, by outcome", ["service", "method", "code"]
)
RPC_DURATION = Histogram(
    "shop_rpc_server_duration_seconds",
    "gRPC request handling time, by outcome",
    ["service", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
# The caller's view (`service` calls `target`): includes the network, queueing and a target that is down.
RPC_CLIENT_REQUESTS = Counter(
    "shop_rpc_client_requests_total",
    "gRPC calls made to other services, by outcome",
    ["service", "target", "method", "code"],
)
RPC_CLIENT_DURATION = Histogram(
    "shop_rpc_client_duration_seconds",
    "gRPC call time as the caller saw it, by outcome",
    ["service", "target", "method", "code"],
    buckets=LATENCY_BUCKETS,
)

# How often gauges read from storage (orders by status, stock levels, ...) are read again.
GAUGE_REFRESH_SECONDS = 15.0

P = ParamSpec("P")
R = TypeVar("R")

_configured = False


def configure_tracing(service_name: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"shop-{service_name}")})
    exporter_wanted = os.environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none" and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    sampler = None  # the SDK's, from OTEL_TRACES_SAMPLER
    if not exporter_wanted and "OTEL_TRACES_SAMPLER" not in os.environ:
        # Nothing would read a recorded span, so none is recorded: a dropped span still has its
        # trace and span ids, which reach the log lines and the next service as before.
        sampler = ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter_wanted:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def trace_engine(engine: Engine) -> None:
    """A client span for every statement `engine` runs (pass an AsyncEngine's `sync_engine`)."""
    usage = get_meter("shop.kit.database").create_up_down_counter("db.client.connections.usage")
    # EngineTracer is what SQLAlchemyInstrumentor().instrument(engine=...) builds; that instrumentor is a
    # process-wide singleton which refuses a second engine, and every service process has its own.
    EngineTracer(trace.get_tracer("opentelemetry.instrumentation.sqlalchemy"), engine, usage)  # type: ignore[no-untyped-call]


def trace_redis(client: Any) -> None:
    """A client span for every command (and one per pipeline or script) `client` sends."""
    RedisInstrumentor.instrument_client(client)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def serve_metrics(host: str, port: int) -> None:
    """Serves /metrics on its own port (kept off the public ingress)."""
    if port:
        start_http_server(port, addr=host)
        log.info("metrics endpoint listening", extra={"port": port})


def step(name: str) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """A span around one business step (`@telemetry.step("checkout.reserve")` on an async method),
    so a trace shows where a multi-step flow spends its time between its RPC and SQL spans."""
    tracer = trace.get_tracer("shop.steps")

    def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer.start_as_current_span(name):
                return await fn(*args, **kwargs)

        return traced

    return decorate


async def refreshing(refresh: Callable[[], Awaitable[None]], every: float = GAUGE_REFRESH_SECONDS) -> None:
    """Keeps gauges that are read from storage current, in the background:
    `runtime.background(telemetry.refreshing(metrics.refresh(store)), "metrics")`. Each replica
    reports the same figures (dashboards take the max). Its queries are not traced: a trace every
    few seconds of counting rows would bury the ones worth reading."""
    while True:
        try:
            with suppress_instrumentation():
                await refresh()
        except Exception as exc:  # storage away: keep the last figures, try again next time
            log.warning("metrics not refreshed", extra={"error": repr(exc)})
        await asyncio.sleep(every)
