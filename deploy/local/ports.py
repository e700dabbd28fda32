"""The one table of local ports. The launcher and the tests import it; SHOP_PORT_OFFSET shifts all.

Base ports (offset 0): storefront HTTP 3000, gateway HTTP 5000 and metrics 9100, embedded Redis
6380, and per service a gRPC port 50051.. and a Prometheus metrics port 9101.. in the order of
`SERVICES`; payments also serves card tokenization over HTTP on 5001.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.config import SERVICE_HTTP_PORTS, SERVICE_PORTS

GATEWAY_HTTP_PORT = 5000
GATEWAY_METRICS_PORT = 9100
STOREFRONT_HTTP_PORT = 3000
REDIS_PORT = 6380
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    """A domain service as the launcher knows it; ports are before any offset."""

    name: str
    grpc_port: int
    metrics_port: int
    # An HTTP API beside gRPC (payments' card tokenization), if the service has one.
    http_port: int | None = None

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def addr_env(self) -> str:
        return f"SHOP_{self.name.upper()}_ADDR"

    @property
    def http_port_env(self) -> str:
        return f"SHOP_{self.name.upper()}_HTTP_PORT"


def _table() -> dict[str, ServiceSpec]:
    return {
        name: ServiceSpec(name, grpc, metrics, SERVICE_HTTP_PORTS.get(name))
        for name, (grpc, metrics) in SERVICE_PORTS.items()
    }


SERVICES: dict[str, ServiceSpec] = _table()

# Started by default, in this order (auth first: the others may call it while starting).
DEFAULT_SERVICES: tuple[str, ...] = tuple(SERVICES)


@dataclass(frozen=True)
class ServicePorts:
    name: str
    grpc: int
    metrics: int
    http: int | None = None

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.grpc}"


@dataclass(frozen=True)
class PortTable:
    """Every port of one platform, with the offset applied."""

    offset: int
    gateway_http: int
    gateway_metrics: int
    redis: int
    storefront_http: int
    services: dict[str, ServicePorts]

    def addresses_env(self) -> dict[str, str]:
        """SHOP_<NAME>_ADDR=127.0.0.1:<grpc port> for every service in the table."""
        return {SERVICES[name].addr_env: ports.addr for name, ports in self.services.items()}

    def all_ports(self) -> dict[str, int]:
        """Every port by a readable label, e.g. {"gateway http": 5000, "catalog grpc": 50052}."""
        labelled = {
            "gateway http": self.gateway_http,
            "gateway metrics": self.gateway_metrics,
            "redis": self.redis,
            "storefront http": self.storefront_http,
        }
        for name, ports in self.services.items():
            labelled[f"{name} grpc"] = ports.grpc
            labelled[f"{name} metrics"] = ports.metrics
            if ports.http is not None:
                labelled[f"{name} http"] = ports.http
        return labelled

    @property
    def api_url(self) -> str:
        return f"http://localhost:{self.gateway_http}/api"

    @property
    def shop_url(self) -> str:
        return f"http://localhost:{self.storefront_http}"

    @property
    def tokens_port(self) -> int:
        """Payments' card tokenization port (what a browser sends a card to)."""
        port = self.services["payments"].http
        assert port is not None, "payments serves tokenization over HTTP"
        return port

    @property
    def tokens_url(self) -> str:
        return f"http://localhost:{self.tokens_port}/v1/tokens"


def port_table(offset: int = 0) -> PortTable:
    """The table shifted by `offset`; raises ValueError when a port would leave 1..65535."""
    table = PortTable(
        offset=offset,
        gateway_http=GATEWAY_HTTP_PORT + offset,
        gateway_metrics=GATEWAY_METRICS_PORT + offset,
        redis=REDIS_PORT + offset,
        storefront_http=STOREFRONT_HTTP_PORT + offset,
        services={
            name: ServicePorts(
                name,
                spec.grpc_port + offset,
                spec.metrics_port + offset,
                None if spec.http_port is None else spec.http_port + offset,
            )
            for name, spec in SERVICES.items()
        },
    )
    bad = {label: port for label, port in table.all_ports().items() if not 0 < port < 65536}
    if bad:
        raise ValueError(f"SHOP_PORT_OFFSET={offset} puts ports out of range: {bad}")
    return table
