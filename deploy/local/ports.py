"""The one table of local ports. The launcher and the tests import it; SHOP_PORT_OFFSET shifts all.

Base ports (offset 0): storefront HTTP 3000, gateway HTTP 5000 and metrics 9100, embedded Redis
6380, and per service the gRPC and metrics ports of its entry in the table of services
(services/topology.toml: gRPC 16051.., metrics 9101..); payments also serves card tokenization
over HTTP on 5001. Every one stays below Linux's ephemeral range (32768-60999) for the offsets the
tests use, so no outgoing connection can be holding it when the platform starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kit import topology
from services.kit.topology import ServiceEntry

GATEWAY_HTTP_PORT = 5000
GATEWAY_METRICS_PORT = 9100
STOREFRONT_HTTP_PORT = 3000
REDIS_PORT = 6380
HOST = "127.0.0.1"


# The domain services as the launcher knows them: ports before any offset, the module each runs.
SERVICES: dict[str, ServiceEntry] = topology.SERVICES

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
        """Every port by a readable label, e.g. {"gateway http": 5000, "catalog grpc": 16052}."""
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
