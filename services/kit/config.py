"""Typed settings read once from `SHOP_*` environment variables.

The same names are used by the local launcher, compose and the Helm chart. Defaults are the
embedded ones: SQLite files under the data folder, services on localhost ports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url

from services.kit import keyfiles, topology
from services.kit.database_url import async_database_url

# gRPC and metrics ports per service, before SHOP_PORT_OFFSET, from the one table of services
# (services/topology.toml, read by `services.kit.topology`), which the launcher, the chart's and
# compose's tests and every process's channels read.
SERVICE_PORTS: dict[str, tuple[int, int]] = {
    name: (entry.grpc_port, entry.metrics_port) for name, entry in topology.SERVICES.items()
}
# HTTP APIs a service serves beside gRPC, before SHOP_PORT_OFFSET, read from SHOP_<SERVICE>_HTTP_PORT
# (payments' card tokenization endpoint, the test provider's stand-in for a browser SDK).
SERVICE_HTTP_PORTS: dict[str, int] = {
    name: entry.http_port for name, entry in topology.SERVICES.items() if entry.http_port is not None
}


def default_address(service: str) -> str:
    return topology.SERVICES[service].default_address


class ConfigError(SystemExit):
    """Stops the process at start-up with a message that names the bad setting."""


def check_redis_url(value: str | None) -> str | None:
    """A Redis URL redis-py can open (redis://, rediss://, unix://, or a cluster's
    redis+cluster:// and rediss+cluster://), checked at start-up."""
    if value:
        scheme, sep, rest = value.partition("://")
        plain = scheme.removesuffix("+cluster") + sep + rest
        try:
            parse_url(plain)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ValueError(f"not a Redis URL ({exc})") from None
    return value


class CommonSettings(BaseSettings):
    """What every process (service or gateway) reads."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore", frozen=True)

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # "json" for machines (default), "text" for people reading a terminal.
    log_format: Literal["json", "text"] = "json"
    # Deadline for every outbound RPC that has none from its caller.
    rpc_timeout_seconds: float = Field(default=5.0, gt=0)
    auth_public_key_file: Path | None = None
    # How long a token found not revoked is taken as such without asking Redis again. Revocations
    # are pushed to every process at once; this bounds the delay only while that push is down.
    revocation_cache_seconds: float = Field(default=1.0, ge=0)
    # What this process shows the auth service to get its own (service) token.
    service_secret_file: Path | None = None
    # Seconds given to in-flight requests after SIGTERM before the process stops.
    drain_seconds: float = Field(default=10.0, ge=0)
    # Where each service answers gRPC: `address_of(name)`, from SHOP_<NAME>_ADDR or the table's
    # default (a `<name>_addr=` keyword, as tests pass, beats both). Not fields: the set of services
    # is data (services.kit.topology), so adding one changes no class here.
    _addresses: dict[str, str] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        fields = type(self).model_fields
        given = {
            key.removesuffix("_addr"): values.pop(key)
            for key in list(values)
            if key.endswith("_addr") and key not in fields
        }
        super().__init__(**values)
        addresses = {
            name: os.environ.get(entry.addr_env) or entry.default_address
            for name, entry in topology.SERVICES.items()
        }
        addresses.update({name: str(value) for name, value in given.items()})
        self._addresses = addresses

    # Either case is taken (`info`, `INFO`); anything else stops the process naming the setting.
    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def address_of(self, service: str) -> str:
        address = self._addresses.get(service) or os.environ.get(f"SHOP_{service.upper()}_ADDR")
        if not address:
            raise ConfigError(
                f"no address for service {service!r}: not in {topology.table_file()} "
                f"and SHOP_{service.upper()}_ADDR is not set"
            )
        return address

    def service_secret(self) -> str:
        path = self.service_secret_file or self.data_dir / "keys" / "service_secret"
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"SHOP_SERVICE_SECRET_FILE: cannot read {path}: {exc.strerror}") from exc

    def public_key_pem(self) -> bytes:
        path = self.auth_public_key_file or self.data_dir / "keys" / "auth_public.pem"
        try:
            return keyfiles.public_key_pem(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"SHOP_AUTH_PUBLIC_KEY_FILE: cannot read {path}: {exc.strerror}") from exc


class ServiceSettings(CommonSettings):
    """What a domain service reads; a service with more settings subclasses this."""

    service_name: str
    bind_host: str = "127.0.0.1"
    grpc_port: int = Field(default=-1, ge=-1, le=65535)
    # 0 turns the Prometheus endpoint off.
    metrics_port: int = Field(default=-1, ge=-1, le=65535)
    # May hold "{service}", replaced by the service name, so one URL can give each service its
    # own database. Unset: a SQLite file per service under the data folder.
    database_url: str | None = None
    # Connections this process may hold to a PostgreSQL database: the pool kept open, and how
    # many more it may open under load. Size them so every replica of every service fits the
    # server's max_connections (the Helm chart refuses a release that does not).
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_max_overflow: int = Field(default=20, ge=0, le=1000)
    redis_url: str | None = None
    # Prefix of every Redis key, so several platforms (or test runs) can share one server.
    redis_prefix: str = "shop:"
    # Seconds between reporting NOT_SERVING and refusing new calls on SIGTERM (set it above the
    # readiness probe period in a cluster; 0 locally).
    shutdown_delay_seconds: float = Field(default=0.0, ge=0)
    health_check_interval_seconds: float = Field(default=5.0, gt=0)
    # Share of successful RPCs that get an "rpc" log line (at INFO); failed ones always do.
    # 0.1 keeps one in ten, which saves most of the logging CPU on a busy service.
    rpc_log_sample: float = Field(default=1.0, ge=0, le=1)

    _per_service_env: ClassVar[tuple[str, ...]] = ("DATABASE_URL",)

    @model_validator(mode="before")
    @classmethod
    def _per_service_overrides(cls, data: Any) -> Any:
        # SHOP_<SERVICE>_DATABASE_URL beats SHOP_DATABASE_URL for that one service.
        if isinstance(data, dict):
            name = data.get("service_name") or os.environ.get("SHOP_SERVICE_NAME", "")
            for suffix in cls._per_service_env:
                value = os.environ.get(f"SHOP_{name.upper()}_{suffix}")
                if name and value:
                    data[suffix.lower()] = value
        return data

    _redis_url_ok = field_validator("redis_url")(check_redis_url)

    @field_validator("database_url")
    @classmethod
    def _database_url_ok(cls, value: str | None) -> str | None:
        if value:
            async_database_url(value.replace("{service}", "service"))
        return value

    @model_validator(mode="after")
    def _default_ports(self) -> ServiceSettings:
        grpc_default, metrics_default = SERVICE_PORTS.get(self.service_name, (0, 0))
        if self.grpc_port == -1:
            object.__setattr__(self, "grpc_port", grpc_default)
        if self.metrics_port == -1:
            object.__setattr__(self, "metrics_port", metrics_default)
        return self

    def database_setting(self) -> str:
        """The variable the database URL came from (SQLite files: the data folder)."""
        own = f"SHOP_{self.service_name.upper()}_DATABASE_URL"
        if os.environ.get(own):
            return own
        return "SHOP_DATABASE_URL" if self.database_url else "SHOP_DATA_DIR"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return async_database_url(self.database_url.replace("{service}", self.service_name))
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: Any) -> S:
    """Reads settings once; a bad or missing value stops the process with a clear message."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_env_name(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def _env_name(loc: tuple[int | str, ...]) -> str:
    # A field read through an alias reports the alias, which is already the variable's full name.
    first = str(loc[0]) if loc else ""
    if first.startswith("SHOP_"):
        return first
    return "SHOP_" + "_".join(str(p) for p in loc).upper()
