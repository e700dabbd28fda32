"""The launcher's settings, read once at start from the environment and the command line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.local.ports import DEFAULT_SERVICES, SERVICES, PortTable, port_table

DEFAULT_ADMIN_EMAIL = "admin@example.com"
DEFAULT_STARTUP_TIMEOUT = 60.0
# Per phase: first the gateway, then all services, get this long after SIGTERM before SIGKILL.
SHUTDOWN_TIMEOUT = 15.0


class SettingsError(Exception):
    """A bad setting; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    ports: PortTable
    # None: start the embedded server.
    redis_url: str | None
    admin_email: str
    # None: generated once and kept in <data>/admin_password.
    admin_password: str | None
    startup_timeout: float
    services: tuple[str, ...]
    gateway: bool
    # SHOP_DEMO_CATALOG=on: a new data folder gets a demo catalog (deploy/local/demo.py).
    demo_catalog: bool = False
    # The built frontend the storefront serves (SHOP_STOREFRONT_DIST, default frontend/dist).
    storefront_dist: Path = Path(__file__).resolve().parents[2] / "frontend" / "dist"

    @property
    def port_offset(self) -> int:
        return self.ports.offset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local",
        description="Start the shop platform on this machine (Ctrl-C stops it).",
        epilog=(
            "Environment: SHOP_DATA_DIR (./data), SHOP_PORT_OFFSET (0), SHOP_REDIS_URL (embedded), "
            "SHOP_DATABASE_URL (SQLite per service), SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD, "
            "SHOP_STARTUP_TIMEOUT (60 s)."
        ),
    )
    parser.add_argument(
        "--services",
        default=",".join(DEFAULT_SERVICES),
        help=f"comma-separated services to start (default: {','.join(DEFAULT_SERVICES)})",
    )
    parser.add_argument("--no-gateway", action="store_true", help="start only the services")
    return parser


def _parse_services(value: str) -> tuple[str, ...]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise SettingsError(f"--services: unknown {', '.join(unknown)} (known: {', '.join(SERVICES)})")
    # Table order, so auth (first in the table) always starts first.
    return tuple(n for n in SERVICES if n in names)


def _number(environ: Mapping[str, str], name: str, default: float, kind: type[int] | type[float]) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    args = _parser().parse_args(argv)

    offset = int(_number(env, "SHOP_PORT_OFFSET", 0, int))
    try:
        ports = port_table(offset)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    timeout = _number(env, "SHOP_STARTUP_TIMEOUT", DEFAULT_STARTUP_TIMEOUT, float)
    if timeout <= 0:
        raise SettingsError("SHOP_STARTUP_TIMEOUT must be positive")
    services = _parse_services(args.services)
    if not services and args.no_gateway:
        raise SettingsError("nothing to start: --services is empty and --no-gateway is set")

    return Settings(
        data_dir=Path(env.get("SHOP_DATA_DIR") or "data").expanduser().resolve(),
        ports=ports,
        redis_url=env.get("SHOP_REDIS_URL") or None,
        admin_email=env.get("SHOP_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL,
        admin_password=env.get("SHOP_ADMIN_PASSWORD") or None,
        startup_timeout=timeout,
        services=services,
        gateway=not args.no_gateway,
        demo_catalog=(env.get("SHOP_DEMO_CATALOG") or "off").strip().lower() in ("on", "1", "true", "yes"),
        storefront_dist=Path(env.get("SHOP_STOREFRONT_DIST") or Settings.storefront_dist).resolve(),
    )
