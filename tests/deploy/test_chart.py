"""The Helm chart, rendered by the real helm binary for each values profile, checked object by object.

No cluster: `helm lint --strict`, `helm template`, Kubernetes' own schemas (kubernetes-validate,
strict), and assertions a platform engineer relies on: probes, resources and hardening on every
container, every address a process calls reaching a Service port its NetworkPolicy lets it through.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.local.keys import ensure_keys
from deploy.local.ports import GATEWAY_HTTP_PORT, GATEWAY_METRICS_PORT, STOREFRONT_HTTP_PORT
from deploy.migrate import sql_services
from services.auth.domain import TokenIssuer
from services.kit.config import SERVICE_HTTP_PORTS, SERVICE_PORTS, CommonSettings
from services.kit.principal import TokenVerifier
from tests.deploy.chart import CHART, HELM, PROFILES, RELEASE, ROOT, Obj, Rendered, helm, refusal, render
from tests.support.tokens import TokenFactory

KUBERNETES_VERSION = "1.35.0"  # what the helm binary was built against (KubeClientVersion)
# Prometheus Operator objects: no schema in kubernetes-validate; checked by hand below.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
BACKENDS = {"gateway", *SERVICE_PORTS}
PROCESSES = {"storefront", *BACKENDS}


@pytest.fixture(scope="session")
def key_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A JWT pair supplied to the chart, made the way the local launcher makes it."""
    keys = ensure_keys(tmp_path_factory.mktemp("chart-keys"))
    return [
        "--set-file",
        f"secrets.jwtPrivateKey={keys.private_key}",
        "--set-file",
        f"secrets.jwtPublicKey={keys.public_key}",
    ]


@pytest.fixture(scope="session")
def rendered(key_args: list[str]) -> dict[str, Rendered]:
    return {profile: render(profile, key_args) for profile in PROFILES}


@pytest.fixture(params=list(PROFILES))
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_helm_is_the_real_v4_binary() -> None:
    assert HELM.is_file(), "run `make setup`: it installs helm into the virtualenv"
    assert helm("version", "--short").stdout.startswith("v4.")


def test_helm_lint_strict_passes(profile: str, key_args: list[str]) -> None:
    args = [arg for name in PROFILES[profile] for arg in ("-f", str(CHART / name))]
    result = helm("lint", "--strict", str(CHART), *args, *key_args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_is_valid_kubernetes(profile: str, rendered: dict[str, Rendered]) -> None:
    for obj in rendered[profile].objects:
        if obj["kind"] in OPERATOR_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
            ) from exc


def test_one_deployment_and_service_per_process(rendered: dict[str, Rendered]) -> None:
    """The chart's components are the platform's processes, on the ports the local table gives them."""
    for r in rendered.values():
        for name in PROCESSES:
            deployment = r.deployment(name)
            service = r.get("Service", f"{RELEASE}-shop-{name}")
            ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
            if name == "storefront":
                assert ports == {"http": STOREFRONT_HTTP_PORT}
            elif name == "gateway":
                assert ports["http"] == GATEWAY_HTTP_PORT
                assert ports["metrics"] == GATEWAY_METRICS_PORT
            else:
                assert (ports["grpc"], ports["metrics"]) == SERVICE_PORTS[name]
                assert ports.get("http") == SERVICE_HTTP_PORTS.get(name)
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            assert container["args"] == [name]
        assert {d["metadata"]["name"] for d in r.of_kind("Deployment")} == {
            f"{RELEASE}-shop-{n}" for n in PROCESSES
        }


def test_every_container_has_probes_resources_and_hardening(
    profile: str, rendered: dict[str, Rendered]
) -> None:
    r = rendered[profile]
    assert r.workloads()
    for workload, container in r.containers():
        where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert set(resources.get(kind, {})) >= {"cpu", "memory"}, f"{where}: no {kind}"
        security = container.get("securityContext", {})
        assert security.get("allowPrivilegeEscalation") is False, where
        assert security.get("readOnlyRootFilesystem") is True, where
        assert security.get("capabilities", {}).get("drop") == ["ALL"], where
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if workload["kind"] != "StatefulSet":  # our image: Python may write only to /tmp
            assert "/tmp" in mounts, f"{where}: no writable /tmp"
        if workload["kind"] == "Job":
            continue
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{where}: no {probe}"


def test_services_are_probed_with_grpc_health(rendered: dict[str, Rendered]) -> None:
    """Kubernetes' native gRPC probe asks grpc.health.v1 on the service's own gRPC port."""
    for r in rendered.values():
        for name, (grpc_port, _) in SERVICE_PORTS.items():
            container = r.deployment(name)["spec"]["template"]["spec"]["containers"][0]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"] == {"port": grpc_port}, f"{name} {probe}"
        gateway = r.deployment("gateway")["spec"]["template"]["spec"]["containers"][0]
        assert gateway["readinessProbe"]["httpGet"]["path"] == "/api/health"


def _env(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "only matchLabels are used"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _named_port(workload: Obj, target: int | str) -> str:
    for container in workload["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if target in (port["name"], port["containerPort"]):
                name: str = port["name"]
                return name
    raise AssertionError(f"{workload['metadata']['name']} has no port {target}")


def _allowed(r: Rendered, caller: Obj, target: Obj, port_name: str) -> bool:
    """Whether the NetworkPolicies selecting `target`'s pods let `caller`'s pods reach `port_name`."""
    policies = [
        p for p in r.of_kind("NetworkPolicy") if _selects(p["spec"]["podSelector"], _pod_labels(target))
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if not any(p["port"] == port_name for p in rule.get("ports", [])):
                continue
            sources = rule.get("from")
            if not sources:
                return True
            for source in sources:
                if "namespaceSelector" not in source and _selects(source["podSelector"], _pod_labels(caller)):
                    return True
    return False


def _resolve(r: Rendered, address: str) -> tuple[Obj, str]:
    """host:port -> the workload behind that Service, and the name of its container port."""
    host, port = address.rsplit(":", 1)
    service = r.get("Service", host)
    ports = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    assert ports, f"Service {host} has no port {port}"
    workloads = [
        w
        for w in r.workloads()
        if w["kind"] != "Job" and _selects({"matchLabels": service["spec"]["selector"]}, _pod_labels(w))
    ]
    assert len(workloads) == 1, f"Service {host} selects {len(workloads)} workloads"
    return workloads[0], _named_port(workloads[0], ports[0]["targetPort"])


def _connection_urls(r: Rendered) -> dict[str, str]:
    secret = r.get("Secret", f"{RELEASE}-shop-connections")
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def test_every_address_a_process_calls_is_a_service_its_network_policy_opens(
    profile: str, rendered: dict[str, Rendered]
) -> None:
    r = rendered[profile]
    urls = _connection_urls(r)
    for name in PROCESSES:
        caller = r.deployment(name)
        env = _env(caller["spec"]["template"]["spec"]["containers"][0])
        addresses = {k: v for k, v in env.items() if re.fullmatch(r"SHOP_[A-Z]+_ADDR", k)}
        # HTTP addresses of other components (the storefront's proxies).
        for variable, value in env.items():
            if variable.endswith("_URL") and isinstance(value, str) and value.startswith("http://"):
                addresses[variable] = value.removeprefix("http://")
        for variable, value in env.items():
            if isinstance(value, dict) and "secretKeyRef" in value:
                ref = value["secretKeyRef"]
                if ref["name"] == f"{RELEASE}-shop-connections":
                    host = re.search(r"@?([\w.-]+):(\d+)/", urls[ref["key"]].split("://", 1)[1])
                    assert host, urls[ref["key"]]
                    if "." not in host.group(1):  # a bundled server, in this release
                        addresses[variable] = f"{host.group(1)}:{host.group(2)}"
        for variable, address in addresses.items():
            target, port_name = _resolve(r, address)
            assert _allowed(r, caller, target, port_name), f"{name} may not reach {variable}={address}"


def _calls_in_code(component: str) -> set[str]:
    """The services a process's code calls: kit stubs by name, the service token (auth), forget targets."""
    folder = ROOT / ("gateway" if component == "gateway" else f"services/{component}")
    called: set[str] = set()
    for path in folder.rglob("*.py"):
        if path.name.startswith(("test_", "conftest")):
            continue
        text = path.read_text()
        called |= set(re.findall(r"stub\([^()]*?\"(\w+)\"\)", text))
        if "service_token()" in text:
            called.add("auth")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "FORGET_TARGETS" for t in node.targets
            ):
                called |= set(ast.literal_eval(node.value))
    return called & set(SERVICE_PORTS)


def test_every_call_in_the_code_is_configured_and_allowed(rendered: dict[str, Rendered]) -> None:
    r = rendered["default"]
    assert _calls_in_code("orders") >= {"cart", "catalog", "inventory", "payments", "auth"}
    for name in PROCESSES:
        env = _env(r.deployment(name)["spec"]["template"]["spec"]["containers"][0])
        for service in _calls_in_code(name):
            assert f"SHOP_{service.upper()}_ADDR" in env, f"{name} calls {service} but has no address for it"


def test_grpc_ports_are_closed_to_everyone_else(rendered: dict[str, Rendered]) -> None:
    r = rendered["default"]
    cart = r.deployment("cart")
    for name in ("content", "inventory", "payments", "orders"):
        target = r.deployment(name)
        assert not _allowed(r, cart, target, "grpc"), f"cart may reach {name}"
    assert _allowed(r, r.deployment("orders"), r.deployment("payments"), "grpc")
    assert not _allowed(r, r.deployment("gateway"), r.deployment("catalog"), "metrics")


def test_only_auth_gets_the_signing_key(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        storefront = r.deployment("storefront")["spec"]["template"]["spec"]
        assert [v["name"] for v in storefront["volumes"]] == ["tmp"]  # no keys, no service secret
        for name in BACKENDS:
            volumes = r.deployment(name)["spec"]["template"]["spec"]["volumes"]
            items = {i["key"] for v in volumes if "secret" in v for i in v["secret"]["items"]}
            assert ("auth_private.pem" in items) == (name == "auth"), name
            assert {"auth_public.pem", "service_secret"} <= items


def test_migrations_run_as_a_hook_for_every_sql_service(rendered: dict[str, Rendered]) -> None:
    for profile, r in rendered.items():
        job = r.get("Job", f"{RELEASE}-shop-migrate")
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate", *sorted(sql_services())]
        hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
        # Bundled PostgreSQL comes with the release, so its first migration follows the install.
        first = "post-install" if profile != "production" else "pre-install"
        assert hooks == {first, "pre-upgrade"}, profile


def test_autoscaled_deployments_leave_replicas_to_the_hpa(rendered: dict[str, Rendered]) -> None:
    r = rendered["production"]
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in r.of_kind("HorizontalPodAutoscaler")}
    assert f"{RELEASE}-shop-orders" in scaled
    for deployment in r.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        assert ("replicas" in deployment["spec"]) == (name not in scaled), name
        if name not in scaled:
            assert deployment["spec"]["replicas"] >= 2
    assert len(r.of_kind("PodDisruptionBudget")) == len(PROCESSES)


def test_telemetry_is_set_once_for_all(rendered: dict[str, Rendered]) -> None:
    settings = rendered["production"].get("ConfigMap", f"{RELEASE}-shop-settings")["data"]
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4317")
    assert settings["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    for deployment in rendered["production"].of_kind("Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": f"{RELEASE}-shop-settings"}}]


def test_ingress_routes_the_shop_the_api_and_card_tokenization(rendered: dict[str, Rendered]) -> None:
    ingress = rendered["production"].get("Ingress", f"{RELEASE}-shop")
    paths = {
        p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths["/api"] == (f"{RELEASE}-shop-gateway", "http")
    assert paths["/v1/tokens"] == (f"{RELEASE}-shop-payments", "http")
    assert paths["/"] == (f"{RELEASE}-shop-storefront", "http")
    assert ingress["spec"]["tls"][0]["hosts"] == ["shop.example.com"]


def test_kind_exposes_the_public_ports_as_the_cluster_config_maps_them(rendered: dict[str, Rendered]) -> None:
    cluster = yaml.safe_load((ROOT / "deploy/kind/cluster.yaml").read_text())
    mapped = {m["containerPort"] for node in cluster["nodes"] for m in node.get("extraPortMappings", [])}
    node_ports = {
        p["nodePort"]
        for s in rendered["kind"].of_kind("Service")
        for p in s["spec"]["ports"]
        if "nodePort" in p
    }
    assert node_ports
    assert node_ports == mapped


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("components.catalog.replica=2", "additional properties 'replica' not allowed"),
        ("ingres.enabled=false", "additional properties 'ingres' not allowed"),
        ("components.catalog.replicas=two", "got string, want integer"),
        ("components.catalog.resources.limits.memory=null", "resources/limits/memory"),
        ("telemetry.samplerRatio=lots", "telemetry/samplerRatio"),
    ],
)
def test_a_typo_or_a_wrong_type_in_values_is_refused(setting: str, message: str, key_args: list[str]) -> None:
    assert message in refusal("default", [*key_args, "--set", setting])


def _secret_files(r: Rendered) -> dict[str, bytes]:
    secret = r.get("Secret", f"{RELEASE}-shop-secrets")
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def test_a_first_install_without_keys_generates_a_pair_every_service_verifies_with(tmp_path: Path) -> None:
    files = _secret_files(render("default"))
    public = tmp_path / "auth_public.pem"
    public.write_bytes(files["auth_public.pem"])
    # What a service reads from its mounted file, and auth's own check that it matches its key.
    settings = CommonSettings(auth_public_key_file=public)
    token = TokenFactory(files["auth_private.pem"]).customer(42)
    assert TokenVerifier(settings.public_key_pem()).verify(token).user_id == 42
    private = serialization.load_pem_private_key(files["auth_private.pem"], password=None)
    assert isinstance(private, Ed25519PrivateKey)
    assert settings.public_key_pem() == TokenIssuer(private).public_pem
    assert len(files["service_secret"]) == 64
    # Another install generates its own.
    assert _secret_files(render("default"))["auth_private.pem"] != files["auth_private.pem"]


def test_supplied_keys_are_kept_as_given(key_args: list[str]) -> None:
    files = _secret_files(render("default", [*key_args, "--set", "secrets.serviceSecret=s3cret"]))
    assert files["auth_private.pem"] == Path(key_args[1].split("=", 1)[1]).read_bytes()
    assert files["auth_public.pem"] == Path(key_args[3].split("=", 1)[1]).read_bytes()
    assert files["service_secret"] == b"s3cret"


def test_half_a_key_pair_is_refused_with_a_clear_message(key_args: list[str]) -> None:
    assert "secrets.jwtPrivateKey and secrets.jwtPublicKey go together" in refusal("default", key_args[:2])


def test_an_existing_secret_is_used_instead_of_the_charts(key_args: list[str]) -> None:
    r = render("default", ["--set", "secrets.existingSecret=shop-keys-by-ops"])
    assert not [s for s in r.of_kind("Secret") if s["metadata"]["name"] == f"{RELEASE}-shop-secrets"]
    for workload, container in r.containers():
        volumes = workload["spec"]["template"]["spec"].get("volumes", [])
        for volume in volumes:
            if volume["name"] == "keys":
                assert volume["secret"]["secretName"] == "shop-keys-by-ops"
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef", {})
            if ref.get("key") == "admin-password":
                assert ref["name"] == "shop-keys-by-ops"


def _chart_copy(tmp_path: Path) -> Path:
    chart = tmp_path / "shop"
    shutil.copytree(CHART, chart)
    return chart


def _folder_files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if not p.name.startswith("."))


def test_dashboards_and_alerts_in_the_chart_become_configmaps_and_a_prometheus_rule(
    tmp_path: Path, key_args: list[str]
) -> None:
    chart = _chart_copy(tmp_path)
    for folder in ("dashboards", "alerts"):
        for path in _folder_files(chart / folder):
            path.unlink()
    enabled = ["--set", "monitoring.prometheusRule.enabled=true"]
    empty = render("default", [*key_args, *enabled], chart)
    assert not empty.of_kind("PrometheusRule")
    assert not [c for c in empty.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]

    (chart / "dashboards" / "checkout_funnel.json").write_text(
        json.dumps({"title": "Checkout", "panels": []})
    )
    rules = {"groups": [{"name": "shop", "rules": [{"alert": "ShopDown", "expr": "up == 0", "for": "1m"}]}]}
    (chart / "alerts" / "shop.yaml").write_text(yaml.safe_dump(rules))
    full = render("default", [*key_args, *enabled], chart)
    dashboards = [
        c for c in full.of_kind("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == 1
    assert json.loads(dashboards[0]["data"]["checkout_funnel.json"])["title"] == "Checkout"
    (rule,) = full.of_kind("PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"]


def test_the_shipped_dashboards_and_alerts_render(rendered: dict[str, Rendered]) -> None:
    """Whatever charts/shop/dashboards and alerts hold now: one ConfigMap per dashboard, all rules kept."""
    dashboards = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    made = rendered["production"].of_kind("ConfigMap")
    assert (
        sorted(k for c in made if "grafana_dashboard" in c["metadata"]["labels"] for k in c["data"])
        == dashboards
    )
    alert_groups = [
        g for p in sorted((CHART / "alerts").glob("*.yaml")) for g in yaml.safe_load(p.read_text())["groups"]
    ]
    rules = rendered["production"].of_kind("PrometheusRule")
    assert [g for r in rules for g in r["spec"]["groups"]] == alert_groups


def test_bundled_postgresql_makes_a_database_for_every_sql_service(rendered: dict[str, Rendered]) -> None:
    init = rendered["kind"].get("ConfigMap", f"{RELEASE}-shop-postgresql-init")["data"]["databases.sql"]
    assert sorted(re.findall(r"CREATE DATABASE shop_(\w+)", init)) == sorted(sql_services())
    url = _connection_urls(rendered["kind"])["database-url"]
    assert url.endswith(f"@{RELEASE}-shop-postgresql:5432/shop_{{service}}")


def test_an_external_database_is_migrated_before_install_from_its_url(key_args: list[str]) -> None:
    """Before install the release's own Secret does not exist, so the Job carries the URL itself."""
    url = "postgresql+asyncpg://shop:pw@db.example.com/shop_{service}"
    r = render("default", [*key_args, "--set", "postgresql.enabled=false", "--set", f"database.url={url}"])
    job = r.get("Job", f"{RELEASE}-shop-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SHOP_DATABASE_URL", "value": url} in env
    assert _connection_urls(r)["database-url"] == url
    assert not r.of_kind("StatefulSet") or all(
        "postgresql" not in s["metadata"]["name"] for s in r.of_kind("StatefulSet")
    )
    assert "set database.url or database.existingSecret" in refusal(
        "default", [*key_args, "--set", "postgresql.enabled=false"]
    )


def test_secrets_outlive_an_uninstall(rendered: dict[str, Rendered]) -> None:
    """The keys, and the password the bundled PostgreSQL's volume was made with, survive a reinstall."""
    for name in ("secrets", "connections"):
        secret = rendered["kind"].get("Secret", f"{RELEASE}-shop-{name}")
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def _sql_processes(r: Rendered) -> dict[str, tuple[int, int]]:
    """SQL service -> (most replicas it may run, connections each replica may open)."""
    most = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
        for h in r.of_kind("HorizontalPodAutoscaler")
    }
    found = {}
    for service in sql_services():
        deployment = r.deployment(service)
        env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
        per_process = int(env["SHOP_DATABASE_POOL_SIZE"]) + int(env["SHOP_DATABASE_MAX_OVERFLOW"])
        name = deployment["metadata"]["name"]
        found[service] = (most.get(name, deployment["spec"].get("replicas", 1)), per_process)
    return found


def test_every_replica_at_its_full_pool_fits_the_servers_connections(
    rendered: dict[str, Rendered], key_args: list[str]
) -> None:
    for profile, r in rendered.items():
        processes = _sql_processes(r)
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        for name in PROFILES[profile]:
            values["database"].update(yaml.safe_load((CHART / name).read_text()).get("database", {}))
        most = sum(replicas * per_process for replicas, per_process in processes.values()) + 1
        assert most <= values["database"]["maxConnections"] - 3, profile
    bundled = rendered["kind"].get("StatefulSet", f"{RELEASE}-shop-postgresql")
    assert bundled["spec"]["template"]["spec"]["containers"][0]["args"] == ["-c", "max_connections=100"]

    message = refusal("default", [*key_args, "--set", "components.catalog.replicas=4"])
    assert "could open 105" in message
    assert "catalog 4" in message
    assert "database.maxConnections 100" in message
    render(
        "default",
        [*key_args, "--set", "components.catalog.replicas=4", "--set", "database.maxConnections=108"],
    )
