"""The table of services: read in its order, and a broken entry stops the process naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kit import topology
from services.kit.config import CommonSettings, ConfigError


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(text)
    return path


def test_the_shipped_table_starts_auth_first_on_ports_outside_the_ephemeral_range() -> None:
    services = topology.read(topology.DEFAULT_FILE)
    assert next(iter(services)) == "auth"
    assert services["catalog"].module == "services.catalog"
    assert services["payments"].http_port == 5001
    # The e2e suite adds offsets up to 15400; Linux's ephemeral range starts at 32768.
    for entry in services.values():
        assert entry.grpc_port + 15400 < 32768, entry
        assert entry.metrics_port + 15400 < 32768, entry


def test_an_entry_may_name_its_module(tmp_path: Path) -> None:
    path = _table(tmp_path, '[echo]\ngrpc = 17001\nmetrics = 9201\nmodule = "elsewhere.echo"\n')
    (entry,) = topology.read(path).values()
    assert (entry.name, entry.module, entry.default_address) == ("echo", "elsewhere.echo", "127.0.0.1:17001")
    assert entry.addr_env == "SHOP_ECHO_ADDR"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[echo]\ngrpc = 17001\n", r"\[echo\] needs grpc and metrics"),
        ("[echo]\ngrpc = 17001\nmetrics = 70000\n", r"\[echo\] metrics = 70000 is not a port"),
        ("[echo]\ngrpc = 17001\nmetrics = 9201\nport = 1\n", r"\[echo\] has unknown keys \['port'\]"),
        ("[Echo]\ngrpc = 17001\nmetrics = 9201\n", r"\[Echo\] must be a table named in lowercase"),
        ("[a]\ngrpc = 17001\nmetrics = 9201\n[b]\ngrpc = 17001\nmetrics = 9202\n", "share a port"),
        ("[echo\n", "not valid TOML"),
    ],
)
def test_a_broken_table_is_refused_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(topology.TopologyError, match=message):
        topology.read(_table(tmp_path, text))


def test_addresses_come_from_the_table_the_environment_or_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_CART_ADDR", "cart:7000")
    monkeypatch.setenv("SHOP_EXTRA_ADDR", "extra:7001")
    settings = CommonSettings(catalog_addr="127.0.0.1:1234")
    assert settings.address_of("auth") == topology.SERVICES["auth"].default_address
    assert settings.address_of("cart") == "cart:7000"
    assert settings.address_of("catalog") == "127.0.0.1:1234"
    assert settings.address_of("extra") == "extra:7001"  # a service the table does not list
    with pytest.raises(ConfigError, match="SHOP_NOWHERE_ADDR is not set"):
        settings.address_of("nowhere")
