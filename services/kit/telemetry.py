"""Tracing and metrics set up once per process.

Tracing uses the OpenTelemetry SDK configured by the standard `OTEL_*` variables: spans are
exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-specific one) is set, and are
still created otherwise so logs carry trace ids. Metrics are Prometheus RED metrics served on
each process's own metrics port.
"""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

RPC_REQUESTS = Counter(
    "shop_rpc_server_requests_total", "gRPC requests handled, by outcome", ["service", "method", "code"]
)
RPC_DURATION = Histogram(
    "shop_rpc_server_duration_seconds",
    "gRPC request handling time",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_configured = False


def configure_tracing(service_name: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"shop-{service_name}")})
    provider = TracerProvider(resource=resource)
    exporter_wanted = os.environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none" and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if exporter_wanted:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def serve_metrics(host: str, port: int) -> None:
    """Serves /metrics on its own port (kept off the public ingress)."""
    if port:
        start_http_server(port, addr=host)
        log.info("metrics endpoint listening", extra={"port": port})
