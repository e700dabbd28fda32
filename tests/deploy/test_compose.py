"""deploy/compose.yaml: valid by the Compose specification's JSON schema, and the same platform as the
chart: the same processes, image, command, ports and SHOP_* settings, the same callers, migrations,
scrape targets, dashboards and alert rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.migrate import sql_services
from services.kit.config import SERVICE_PORTS
from tests.deploy.chart import RELEASE, ROOT, Rendered, render

COMPOSE = ROOT / "deploy" / "compose.yaml"
PROCESSES = {"storefront", "gateway", *SERVICE_PORTS}
# check-jsonschema ships the Compose specification's schema (vendor.compose-spec).
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    from deploy.local.keys import ensure_keys

    keys = ensure_keys(tmp_path_factory.mktemp("compose-keys"))
    return render(
        "default",
        [
            "--set-file",
            f"secrets.jwtPrivateKey={keys.private_key}",
            "--set-file",
            f"secrets.jwtPublicKey={keys.public_key}",
            # Compose always has a collector; the chart sends spans once given one.
            "--set",
            "telemetry.otlpEndpoint=http://otel-collector:4317",
        ],
    )


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = COMPOSE.read_text().replace("    command: [catalog]\n", "    commandd: [catalog]\n")
    (tmp_path / "compose.yaml").write_text(broken)
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(tmp_path / "compose.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "commandd" in result.stdout


def _processes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("command", [None])[0] in PROCESSES}


def _chart_env(chart: Rendered, name: str) -> dict[str, str | None]:
    """The names (and literal values) of what the chart's pod for `name` gets in its environment."""
    env: dict[str, str | None] = dict(chart.get("ConfigMap", f"{RELEASE}-shop-settings")["data"])
    container = chart.deployment(name)["spec"]["template"]["spec"]["containers"][0]
    for item in container["env"]:
        env[item["name"]] = item.get("value")
    return env


def test_the_same_processes_and_commands_from_the_same_image(
    compose: dict[str, Any], chart: Rendered
) -> None:
    processes = _processes(compose)
    assert set(processes) == PROCESSES
    images = {s["image"] for s in compose["services"].values() if "build" in s}
    assert images == {"${SHOP_IMAGE:-shop:dev}"}
    for name, service in processes.items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        container = chart.deployment(name)["spec"]["template"]["spec"]["containers"][0]
        assert service["command"] == container["args"]
        assert service["read_only"] is True
        assert service["user"] == "10001:10001"


def test_the_same_settings_ports_and_callers(compose: dict[str, Any], chart: Rendered) -> None:
    for name, service in _processes(compose).items():
        mine = {k: str(v) for k, v in service["environment"].items()}
        theirs = _chart_env(chart, name)
        assert set(mine) == set(theirs), (
            f"{name}: only compose {set(mine) - set(theirs)}, only chart {set(theirs) - set(mine)}"
        )
        for key, value in theirs.items():
            if value is None or value.startswith("/var/run/shop/keys/"):
                continue  # from a Secret, or a mounted file: where those live differs
            if key == "SHOP_FORWARDED_HOPS":
                continue  # an Ingress in front in the chart, none in compose
            if key.endswith("_ADDR"):
                value = value.removeprefix(f"{RELEASE}-shop-")
            value = value.replace(f"http://{RELEASE}-shop-", "http://")  # another component's URL
            assert mine[key] == value, f"{name}: {key}={mine[key]!r}, the chart says {value!r}"


def test_the_same_public_ports(compose: dict[str, Any], chart: Rendered) -> None:
    published = {
        name: sorted(int(p.split(":")[1]) for p in service.get("ports", []))
        for name, service in _processes(compose).items()
    }
    # The chart's public ports are those its NetworkPolicies open to everyone.
    open_ports = {}
    for policy in chart.of_kind("NetworkPolicy"):
        name = policy["metadata"]["name"].removeprefix(f"{RELEASE}-shop-")
        if name not in PROCESSES:
            continue
        named = {
            p["name"]: p["containerPort"]
            for p in chart.deployment(name)["spec"]["template"]["spec"]["containers"][0]["ports"]
        }
        open_ports[name] = sorted(
            named[p["port"]]
            for rule in policy["spec"]["ingress"]
            if "from" not in rule
            for p in rule["ports"]
        )
    assert published == open_ports


def test_the_same_migrations_databases_scrapes_dashboards_and_alerts(
    compose: dict[str, Any], chart: Rendered
) -> None:
    job = chart.get("Job", f"{RELEASE}-shop-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert compose["services"]["migrate"]["command"] == job["args"]
    init = (ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    assert sorted(re.findall(r"CREATE DATABASE shop_(\w+)", init)) == sorted(sql_services())

    prometheus = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    metrics = {
        f"{name}:{p['containerPort']}"
        for name in PROCESSES
        for c in chart.deployment(name)["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
        if p["name"] == "metrics"
    }
    assert targets == metrics

    volumes = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert {"../charts/shop/dashboards", "../charts/shop/alerts"} <= volumes
