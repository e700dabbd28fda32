"""The gateway's pure pieces: money conversion, settings, the one status mapping."""

from __future__ import annotations

import grpc
import pytest

from gateway.errors import RPC_TO_HTTP, from_rpc
from gateway.money import from_minor, minor_units
from gateway.routes import ROUTES
from gateway.settings import GatewaySettings, load_settings
from services.kit.config import ConfigError


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (100.0, 10000),
        (100, 10000),
        (19.99, 1999),
        (0.1, 10),
        (0.29, 29),
        (0, 0),
        (1e10, 10**12),
        (1234567.89, 123456789),
    ],
)
def test_prices_convert_to_exact_cents(value: float, cents: int) -> None:
    assert minor_units(value) == cents
    assert from_minor(cents) == float(value)


@pytest.mark.parametrize("value", [0.001, 19.999, 1e-7, 0.1 + 0.2])
def test_more_than_two_decimals_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="2 decimal places"):
        minor_units(value)


def test_status_mapping() -> None:
    expected = {
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.ABORTED: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 409,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    }
    assert dict(RPC_TO_HTTP) == expected
    assert (
        from_rpc(grpc.StatusCode.NOT_FOUND, "product 7 not found", "catalog").message
    ) == "product 7 not found"
    unavailable = from_rpc(grpc.StatusCode.UNAVAILABLE, "connection refused", "reviews")
    assert (unavailable.status, unavailable.message) == (503, "reviews service unavailable")
    explained = from_rpc(grpc.StatusCode.UNAVAILABLE, "payment service unavailable", "orders", explained=True)
    assert (explained.status, explained.message) == (503, "payment service unavailable")
    for code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS):
        error = from_rpc(code, "secret details", "orders")
        assert (error.status, error.message) == (500, "Internal Server Error")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_GATEWAY_PORT", "5005")
    monkeypatch.setenv("SHOP_GATEWAY_HOST", "0.0.0.0")
    monkeypatch.setenv("SHOP_GATEWAY_METRICS_PORT", "0")
    monkeypatch.setenv("SHOP_CORS_ORIGINS", "http://a.test, http://b.test/")
    monkeypatch.setenv("SHOP_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SHOP_CURRENCY", "EUR")
    monkeypatch.setenv("PORT", "1")  # a bare name must not leak in
    monkeypatch.setenv("SHOP_PORT", "2")
    monkeypatch.setenv("SHOP_METRICS_PORT", "3")  # a service's variable, not the gateway's
    settings = load_settings()
    assert (settings.port, settings.host, settings.metrics_port) == (5005, "0.0.0.0", 0)
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert (settings.max_body_bytes, settings.currency) == (2048, "EUR")

    monkeypatch.setenv("SHOP_CORS_ORIGINS", '["*"]')
    assert load_settings().cors_origins == ("*",)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOP_GATEWAY_PORT", "SHOP_GATEWAY_HOST", "SHOP_GATEWAY_METRICS_PORT", "SHOP_CURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = GatewaySettings()
    assert (settings.port, settings.host, settings.metrics_port) == (5000, "127.0.0.1", 9100)
    assert (settings.max_body_bytes, settings.currency) == (1024 * 1024, "USD")


@pytest.mark.parametrize(
    ("name", "value"),
    [("SHOP_GATEWAY_PORT", "http"), ("SHOP_GATEWAY_PORT", "70000"), ("SHOP_CURRENCY", "usd")],
)
def test_bad_settings_stop_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name}:"):
        load_settings()


def test_route_table_is_consistent() -> None:
    keys = [(r.method, r.full_path.rstrip("/")) for r in ROUTES]
    assert len(keys) == len(set(keys))
    assert len({r.operation_id for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        assert route.full_path.startswith("/api/")
        assert route.status in (200, 201)
        assert route.response is not None
