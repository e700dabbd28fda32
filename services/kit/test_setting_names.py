"""Every setting a process reads is known to the others, so none is reported as a typo."""

from __future__ import annotations

import importlib
import logging

import pytest
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from services.kit import setting_names
from services.kit.config import SERVICE_PORTS, ServiceSettings


def test_every_settings_class_field_is_a_known_name() -> None:
    classes: list[type[BaseSettings]] = [GatewaySettings, ServiceSettings]
    for service in SERVICE_PORTS:
        module = importlib.import_module(f"services.{service}.service")
        classes.append(getattr(module, "Settings", ServiceSettings))
    read = set().union(*(setting_names.env_names(cls) for cls in classes))
    missing = sorted(read - setting_names.declared_names())
    assert not missing, f"add to services/kit/setting_names.py OTHER_PROCESSES: {missing}"


def test_typos_are_reported_with_the_likely_setting(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "SHOP_DATABSE_URL": "x",
        "SHOP_LOG_LEVLE": "debug",
        "SHOP_WHATEVER": "1",
        "SHOP_CART_TTL_SECONDS": "5",
        "SHOP_PAYMENTS_DATABASE_URL": "sqlite:///p.db",
        "HOME": "/root",
    }
    assert setting_names.unknown_settings(environ) == [
        ("SHOP_DATABSE_URL", "SHOP_DATABASE_URL"),
        ("SHOP_LOG_LEVLE", "SHOP_LOG_LEVEL"),
        ("SHOP_WHATEVER", None),
    ]
    with caplog.at_level(logging.WARNING):
        setting_names.report_unknown(environ, logging.getLogger("test"))
    assert [r.getMessage() for r in caplog.records] == [
        "unknown setting SHOP_DATABSE_URL is ignored (did you mean SHOP_DATABASE_URL?)",
        "unknown setting SHOP_LOG_LEVLE is ignored (did you mean SHOP_LOG_LEVEL?)",
        "unknown setting SHOP_WHATEVER is ignored",
    ]
