"""The set of services, read from data (`services/topology.toml`) rather than written in code.

Adding a service is its package plus one entry in that file; nothing in the kit names a service.
SHOP_TOPOLOGY_FILE points at another table (a deployment with services of its own, or a test that
adds a throwaway one); every process of one platform must read the same table, which the launcher
ensures by handing its environment to its children.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "topology.toml"
FILE_SETTING = "SHOP_TOPOLOGY_FILE"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_KEYS = {"grpc", "metrics", "http", "module"}


class TopologyError(SystemExit):
    """The table cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class ServiceEntry:
    """One service of the platform; ports are before SHOP_PORT_OFFSET."""

    name: str
    grpc_port: int
    metrics_port: int
    # An HTTP API beside gRPC (payments' card tokenization), if the service has one.
    http_port: int | None = None
    # What `python -m` runs; services.<name> unless the entry says otherwise.
    module: str = ""

    @property
    def addr_env(self) -> str:
        return f"SHOP_{self.name.upper()}_ADDR"

    @property
    def http_port_env(self) -> str:
        return f"SHOP_{self.name.upper()}_HTTP_PORT"

    @property
    def default_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def _port(path: Path, name: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise TopologyError(f"{path}: [{name}] {key} = {value!r} is not a port (1..65535)")
    return value


def read(path: Path) -> dict[str, ServiceEntry]:
    """The entries of one table file, in its order."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise TopologyError(f"{FILE_SETTING}: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: not valid TOML ({exc})") from None
    entries: dict[str, ServiceEntry] = {}
    for name, fields in raw.items():
        if not _NAME.fullmatch(name) or not isinstance(fields, dict):
            raise TopologyError(f"{path}: [{name}] must be a table named in lowercase letters, digits, _")
        unknown = sorted(set(fields) - _KEYS)
        if unknown:
            raise TopologyError(f"{path}: [{name}] has unknown keys {unknown} (known: {sorted(_KEYS)})")
        if "grpc" not in fields or "metrics" not in fields:
            raise TopologyError(f"{path}: [{name}] needs grpc and metrics ports")
        http = fields.get("http")
        module = fields.get("module", f"services.{name}")
        if not isinstance(module, str) or not module:
            raise TopologyError(f"{path}: [{name}] module must be a module name")
        entries[name] = ServiceEntry(
            name,
            _port(path, name, "grpc", fields["grpc"]),
            _port(path, name, "metrics", fields["metrics"]),
            None if http is None else _port(path, name, "http", http),
            module,
        )
    ports = [p for e in entries.values() for p in (e.grpc_port, e.metrics_port, e.http_port) if p is not None]
    if len(ports) != len(set(ports)):
        raise TopologyError(f"{path}: two entries share a port")
    return entries


def table_file() -> Path:
    return Path(os.environ.get(FILE_SETTING) or DEFAULT_FILE)


# Read once per process, at import: the same table for the whole life of the process.
SERVICES: dict[str, ServiceEntry] = read(table_file())
