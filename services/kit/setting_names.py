"""Every `SHOP_*` name the platform reads, so a typo (`SHOP_DATABSE_URL`) is reported, not ignored.

The launcher hands its whole environment to every process, so a process must know the names the
others read too, without importing them all (that would cost each start-up seconds): the kit's
own settings classes are read from the classes, the rest is listed below. `test_setting_names`
fails when a settings class gains a field missing here.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping

from pydantic_settings import BaseSettings

from services.kit.config import SERVICE_PORTS, CommonSettings, ServiceSettings

PREFIX = "SHOP_"

# Read by one process's own settings class (the gateway's, or one service's `Settings`).
OTHER_PROCESSES = frozenset(
    {
        # gateway
        "SHOP_ACTIVITY_QUEUE_SIZE", "SHOP_ACTIVITY_RECORDING", "SHOP_ACTIVITY_STREAM_MAXLEN",
        "SHOP_CHECKOUT_TIMEOUT_SECONDS", "SHOP_CORS_ORIGINS", "SHOP_CURRENCY", "SHOP_FORWARDED_HOPS",
        "SHOP_GATEWAY_HOST", "SHOP_GATEWAY_METRICS_PORT", "SHOP_GATEWAY_PORT",
        "SHOP_LOGIN_ACCOUNT_FAILURES", "SHOP_LOGIN_ACCOUNT_WINDOW_SECONDS",
        "SHOP_LOGIN_BACKOFF_FORGET_SECONDS", "SHOP_LOGIN_BACKOFF_MAX_SECONDS",
        "SHOP_LOGIN_CLIENT_ATTEMPTS", "SHOP_LOGIN_FREE_FAILURES", "SHOP_MAX_BODY_BYTES",
        "SHOP_REGISTRATIONS_PER_CLIENT", "SHOP_HTTP_BODY_TIMEOUT_SECONDS", "SHOP_HTTP_IDLE_TIMEOUT_SECONDS",
        "SHOP_PRODUCT_CACHE_SECONDS", "SHOP_SESSION_COOKIE_SECURE", "SHOP_RATE_LIMIT_PER_SECOND",
        "SHOP_RATE_LIMIT_BURST",
        # auth
        "SHOP_ADMIN_EMAIL", "SHOP_ADMIN_PASSWORD", "SHOP_AUTH_PRIVATE_KEY_FILE",
        "SHOP_DELETION_POLL_SECONDS", "SHOP_DELETION_RETRY_BASE_SECONDS",
        "SHOP_DELETION_RETRY_MAX_SECONDS", "SHOP_SERVICE_TOKEN_TTL_SECONDS", "SHOP_TOKEN_TTL_SECONDS",
        "SHOP_SESSION_TTL_SECONDS", "SHOP_SESSION_ACCESS_TTL_SECONDS",
        # catalog, cart, inventory
        "SHOP_SIGNALS_INTERVAL_SECONDS", "SHOP_UPLOAD_MAX_BYTES", "SHOP_COUNT_CACHE_SECONDS",
        "SHOP_CART_TTL_SECONDS",
        "SHOP_RESERVATION_TTL_SECONDS", "SHOP_SWEEP_BATCH", "SHOP_SWEEP_INTERVAL_SECONDS",
        # orders
        "SHOP_CHECKOUT_HOLD_SECONDS", "SHOP_PAYMENT_HOLD_SECONDS", "SHOP_RECOVERY_AFTER_SECONDS",
        "SHOP_RECOVERY_INTERVAL_SECONDS",
        # payments
        "SHOP_PAYMENT_TOKEN_TTL_SECONDS", "SHOP_PROVIDER_LOOKUP_AFTER_SECONDS",
        "SHOP_PROVIDER_LOOKUP_INTERVAL_SECONDS",
        # shipping
        "SHOP_CARRIER_WEBHOOK_SECRET", "SHOP_ORDER_SYNC_INTERVAL_SECONDS", "SHOP_ORDER_SYNC_RETRY_SECONDS",
        # activity
        "SHOP_PURGE_INTERVAL_SECONDS", "SHOP_RETENTION_DAYS", "SHOP_STREAM_BATCH",
        "SHOP_STREAM_CLAIM_IDLE_SECONDS", "SHOP_STREAM_CONSUMER",
    }
)  # fmt: skip

# Read outside the settings classes: the launcher and its storefront, tools, deploy scripts, tests.
READ_ELSEWHERE = frozenset(
    {
        "SHOP_TOPOLOGY_FILE",
        "SHOP_PORT_OFFSET", "SHOP_STARTUP_TIMEOUT", "SHOP_DEMO_CATALOG", "SHOP_STOREFRONT_DIST",
        "SHOP_STOREFRONT_PORT", "SHOP_STOREFRONT_API_URL", "SHOP_STOREFRONT_PROVIDER_URL",
        "SHOP_MIGRATE_WAIT_SECONDS", "SHOP_NEW_ADMIN_PASSWORD", "SHOP_IMAGE", "SHOP_NAMESPACE",
        "SHOP_TEST_DATABASE_URL", "SHOP_TEST_REDIS_URL", "SHOP_URL", "SHOP_SCREENSHOT_DIR",
        "SHOP_STOREFRONT_HOST", "SHOP_TEST_COUNTS",
    }
)  # fmt: skip


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The variables a settings class reads."""
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{PREFIX}{name.upper()}")
    return names


def _subclasses(cls: type[BaseSettings]) -> Iterable[type[BaseSettings]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def declared_names() -> set[str]:
    """What this module knows without importing the other processes' settings."""
    known = set(OTHER_PROCESSES | READ_ELSEWHERE) | env_names(CommonSettings) | env_names(ServiceSettings)
    for service in SERVICE_PORTS:
        # Addresses (config.CommonSettings.address_of), per-service overrides
        # (config.ServiceSettings._per_service_env) and HTTP ports.
        known |= {f"{PREFIX}{service.upper()}_{suffix}" for suffix in ("ADDR", "DATABASE_URL", "HTTP_PORT")}
    return known


def known_names() -> set[str]:
    known = declared_names()
    for cls in _subclasses(CommonSettings):
        known |= env_names(cls)
    return known


def unknown_settings(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """`(name, likely intended name or None)` for each `SHOP_*` variable that nothing reads."""
    known = known_names()
    found = []
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            found.append((name, close[0] if close else None))
    return found


def report_unknown(environ: Mapping[str, str], log: logging.Logger) -> None:
    """One warning line per unknown `SHOP_*` variable, with the setting it was likely meant to be."""
    for name, guess in unknown_settings(environ):
        hint = f" (did you mean {guess}?)" if guess else ""
        log.warning(f"unknown setting {name} is ignored{hint}", extra={"setting": name})
