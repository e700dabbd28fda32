"""The gateway's typed settings, read once at start-up from `SHOP_*` environment variables."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.kit.config import CommonSettings, check_redis_url, load

MIB = 1024 * 1024


class GatewaySettings(CommonSettings):
    """What the gateway reads on top of the common settings (service addresses, data folder, logs)."""

    # validate_by_name lets tests and callers pass `port=...`; the environment name stays exact.
    model_config = SettingsConfigDict(validate_by_name=True, validate_by_alias=True)

    port: int = Field(default=5000, ge=0, le=65535, validation_alias="SHOP_GATEWAY_PORT")
    host: str = Field(default="127.0.0.1", validation_alias="SHOP_GATEWAY_HOST")
    # 0 turns the Prometheus endpoint off; it is never served on the public port.
    metrics_port: int = Field(default=9100, ge=0, le=65535, validation_alias="SHOP_GATEWAY_METRICS_PORT")
    max_body_bytes: int = Field(default=MIB, gt=0)
    # Checkout is a multi-step flow (reserve, price, ship, charge, commit): it gets a longer
    # deadline than single reads, matching the orders service's own budget for finishing it.
    checkout_timeout_seconds: float = Field(default=30.0, gt=0)
    # Browser origins allowed to call the API ("*" allows any); a JSON list or comma-separated.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # The shop's one currency: REST prices are numbers in it, services get integer minor units.
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # Activity recording (gateway/activity.py) appends to the activity stream in this Redis; unset: off.
    redis_url: str | None = None
    # The platform's Redis key prefix, the same one the services use.
    redis_prefix: str = "shop:"
    # Public product answers are served from the gateway's memory for at most this long (0: off).
    product_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    activity_recording: bool = True
    # Events waiting for Redis; beyond this, new events are dropped rather than slowing requests.
    activity_queue_size: int = Field(default=10_000, gt=0)
    # The stream is trimmed to about this many entries (what survives an activity service outage).
    activity_stream_maxlen: int = Field(default=1_000_000, gt=0)

    # Throttles on logins and registrations (gateway/throttle.py; off without redis_url).
    login_free_failures: int = Field(default=5, ge=0)
    login_backoff_max_seconds: float = Field(default=300.0, gt=0)
    login_backoff_forget_seconds: float = Field(default=900.0, gt=0)
    login_account_failures: int = Field(default=50, gt=0)
    login_account_window_seconds: float = Field(default=900.0, gt=0)
    login_client_attempts: int = Field(default=60, gt=0, description="per minute")
    registrations_per_client: int = Field(default=20, gt=0, description="per hour")
    # Requests per client (gateway/rate_limit.py): this many a second on average across replicas,
    # this many at once; 0 turns it off (the embedded default: one developer, tests and benchmarks
    # all come from one address). The chart and compose turn it on.
    rate_limit_per_second: float = Field(default=0.0, ge=0, le=100_000)
    rate_limit_burst: int = Field(default=200, gt=0, le=1_000_000)
    # Proxies in front that append the caller to X-Forwarded-For (an ingress: 1); 0 trusts none.
    forwarded_hops: int = Field(default=0, ge=0, le=10)
    # Browser session cookies (gateway/sessions.py): Secure when the request came over https (auto),
    # or always, or never.
    session_cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Slow or idle clients (gateway/slow_clients.py): a connection that has not sent a whole request
    # line and headers this long after opening or after its last answer is closed; a request whose
    # body has not arrived this long after its headers is answered 408 and its connection closed.
    http_idle_timeout_seconds: float = Field(default=15.0, gt=0)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)

    _redis_url_ok = field_validator("redis_url")(check_redis_url)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
        return value


def load_settings(**overrides: Any) -> GatewaySettings:
    """Reads the settings once; a bad value stops the process with a message naming the variable."""
    return load(GatewaySettings, **overrides)
