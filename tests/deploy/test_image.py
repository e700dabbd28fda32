"""The image: hadolint on deploy/Dockerfile, and the exact command it runs, started for every process.

No container engine runs here, so the image's ENTRYPOINT + the chart's args, with the image's ENV and
the environment the chart gives each pod (rendered by helm), are run from this checkout's install;
each process must answer its health check, and `migrate` must bring every schema up.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from deploy.local.health import wait_grpc_serving, wait_http_ok
from deploy.local.keys import KeyFiles, ensure_keys
from deploy.local.process import ChildProcess
from services.kit.config import SERVICE_PORTS
from tests.deploy.chart import RELEASE, ROOT, Rendered, render
from tests.deploy.dockerfile import DOCKERFILE, final_stage, stages
from tests.support.ports import free_port
from tests.support.run import redis_prefix

HADOLINT = Path(sys.executable).parent / "hadolint"
STARTUP_SECONDS = 90.0


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_storefront_is_built_in_a_node_stage_and_served_from_the_image() -> None:
    """The shop's files come from the locked frontend build; only the built files reach the image."""
    frontend, _, final = stages()
    assert frontend.base.startswith("node:")
    assert "slim" in frontend.base
    runs = frontend.all("RUN")
    assert any(r.startswith("npm ci") for r in runs)
    assert "npm run build" in runs
    dist = final.env()["SHOP_STOREFRONT_DIST"]
    assert f"--from={frontend.name} /src/frontend/dist {dist}" in final.all("COPY")
    assert final.env()["SHOP_STOREFRONT_HOST"] == "0.0.0.0"


def test_the_final_stage_is_slim_non_root_and_without_build_tools() -> None:
    _, build, final = stages()
    assert "slim" in final.base
    assert final.base == build.base
    user = final.all("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000
    # Dependencies are installed (wheels only, pinned by constraints.txt) in the build stage and copied.
    assert any("-c /tmp/constraints.txt" in r and "--only-binary=:all:" in r for r in build.all("RUN"))
    for command in final.all("RUN"):
        assert not any(tool in command for tool in ("pip install", "apt-get", "gcc", "build-essential")), (
            command
        )
    assert final.exec_form("ENTRYPOINT") == ["python", "-m", "deploy.run"]
    assert final.exec_form("CMD") == ["gateway"]


def test_the_build_context_holds_what_the_image_copies() -> None:
    """.dockerignore lets in exactly the sources COPY names (and keeps tests, data and venvs out)."""
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for stage in stages():
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            *sources, _ = args.split()
            for source in sources:
                name = source.rstrip("/").removeprefix("/tmp/")
                assert name in allowed, f"COPY {source} but .dockerignore keeps it out"
                assert (ROOT / name).exists(), name
    assert "protos/gen/python" in allowed
    assert "**/test_*.py" in ignore


def _image_env(tmp: Path) -> dict[str, str]:
    env = final_stage().env()
    # /opt/shop/bin in the image is this checkout's virtualenv here.
    env["PATH"] = (
        env["PATH"]
        .replace("/opt/shop/bin", str(Path(sys.executable).parent))
        .replace("$PATH", os.environ.get("PATH", ""))
    )
    env["SHOP_DATA_DIR"] = str(tmp)
    return env


def _pod_env(
    r: Rendered, name: str, ports: dict[str, dict[str, int]], keys: KeyFiles, urls: dict[str, str]
) -> dict[str, str]:
    """The environment the chart gives the pod, with cluster addresses and files made local."""
    container = r.deployment(name)["spec"]["template"]["spec"]["containers"][0]
    settings = r.get("ConfigMap", f"{RELEASE}-shop-settings")["data"]
    env: dict[str, str] = dict(settings)
    mounted = {
        "/var/run/shop/keys/auth_public.pem": str(keys.public_key),
        "/var/run/shop/keys/service_secret": str(keys.service_secret),
        "/var/run/shop/keys/auth_private.pem": str(keys.private_key),
    }
    secret = {
        k: base64.b64decode(v).decode() for k, v in r.get("Secret", f"{RELEASE}-shop-secrets")["data"].items()
    }
    chart_ports = {p["containerPort"]: p["name"] for p in container["ports"]}
    for item in container["env"]:
        key = item["name"]
        if "value" in item:
            value: str = item["value"]
            if value.startswith(f"http://{RELEASE}-shop-"):  # another component's HTTP port
                host, port = value.removeprefix(f"http://{RELEASE}-shop-").split(":")
                target = r.deployment(host)["spec"]["template"]["spec"]["containers"][0]["ports"]
                port_name = next(p["name"] for p in target if p["containerPort"] == int(port))
                value = f"http://127.0.0.1:{ports[host][port_name]}"
            elif key.endswith("_ADDR"):
                target = key.removeprefix("SHOP_").removesuffix("_ADDR").lower()
                value = f"127.0.0.1:{ports[target]['grpc']}"
            elif value.isdigit() and int(value) in chart_ports:
                value = str(ports[name][chart_ports[int(value)]])
            env[key] = mounted.get(value, value)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[key] = urls[ref["key"]] if ref["name"].endswith("-connections") else secret[ref["key"]]
    return {k: mounted.get(v, v) for k, v in env.items()}


@pytest.fixture(scope="module")
def chart_render(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, KeyFiles]:
    keys = ensure_keys(tmp_path_factory.mktemp("image-keys"))
    files = ["--set-file", f"secrets.jwtPrivateKey={keys.private_key}"]
    files += ["--set-file", f"secrets.jwtPublicKey={keys.public_key}"]
    return render("default", files), keys


def _command(name: str) -> list[str]:
    """ENTRYPOINT + the chart's args; `python` is the image's virtualenv, this checkout's here."""
    entry = final_stage().exec_form("ENTRYPOINT")
    assert entry[0] == "python"
    return [sys.executable, *entry[1:], name]


async def test_migrate_brings_every_schema_up_and_a_bad_name_is_refused(
    tmp_path: Path, database_url: str
) -> None:
    env = {**os.environ, **_image_env(tmp_path), "SHOP_DATABASE_URL": database_url}
    done = await asyncio.create_subprocess_exec(
        *_command("migrate"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await done.communicate()
    assert done.returncode == 0, out.decode()
    assert out.decode().count('"migrated"') == len(
        [n for n in SERVICE_PORTS if (ROOT / "services" / n / "migrations").is_dir()]
    )
    wrong = await asyncio.create_subprocess_exec(
        *_command("catalogue"), env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await wrong.communicate()
    assert wrong.returncode == 2
    assert "one of gateway, auth" in err.decode()


@pytest.fixture
async def started(
    tmp_path: Path, chart_render: tuple[Rendered, KeyFiles], database_url: str, redis_url: str
) -> AsyncIterator[dict[str, Any]]:
    r, keys = chart_render
    ports = {name: {"grpc": free_port(), "metrics": free_port()} for name in SERVICE_PORTS}
    ports["payments"]["http"] = free_port()
    ports["gateway"] = {"http": free_port(), "metrics": free_port()}
    ports["storefront"] = {"http": free_port()}
    urls = {"database-url": database_url, "redis-url": redis_url}
    children: dict[str, ChildProcess] = {}
    base = {**_image_env(tmp_path), "SHOP_REDIS_PREFIX": redis_prefix("image"), "SHOP_LOG_FORMAT": "text"}
    # The cluster's shutdown delay and drain only slow this test's teardown down.
    base |= {"SHOP_SHUTDOWN_DELAY_SECONDS": "0", "SHOP_DRAIN_SECONDS": "1"}
    # The image's frontend/dist (built by its node stage): a stand-in page here.
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>Shop</title><div id=root></div>")
    base["SHOP_STOREFRONT_DIST"] = str(dist)
    for name in ["auth", *[n for n in SERVICE_PORTS if n != "auth"], "gateway", "storefront"]:
        env = {**_pod_env(r, name, ports, keys, urls), **base}
        children[name] = ChildProcess(name, _command(name), env, tmp_path / "logs" / f"{name}.log")
    try:
        yield {"children": children, "ports": ports}
    finally:
        await asyncio.gather(*(c.stop(20) for c in children.values() if c.running))


async def test_the_image_command_starts_every_process_and_each_answers_health(
    started: dict[str, Any],
) -> None:
    children: dict[str, ChildProcess] = started["children"]
    ports: dict[str, dict[str, int]] = started["ports"]
    for name in ["auth", *[n for n in SERVICE_PORTS if n != "auth"]]:
        await children[name].start()
    await asyncio.gather(
        *(
            wait_grpc_serving(children[name], f"127.0.0.1:{ports[name]['grpc']}", STARTUP_SECONDS)
            for name in SERVICE_PORTS
        )
    )
    gateway = children["gateway"]
    await gateway.start()
    await wait_http_ok(gateway, f"http://127.0.0.1:{ports['gateway']['http']}/api/health", STARTUP_SECONDS)
    # The storefront answers its probe path with the shop, and reaches the gateway the chart names.
    storefront = children["storefront"]
    await storefront.start()
    shop = f"http://127.0.0.1:{ports['storefront']['http']}"
    await wait_http_ok(storefront, f"{shop}/", STARTUP_SECONDS)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{shop}/account/orders") as page:
            assert page.status == 200
            assert "<title>Shop</title>" in await page.text()
        async with session.get(f"{shop}/api/health") as health:
            assert health.status == 200


async def test_keys_makes_the_pair_once_and_keeps_it(tmp_path: Path) -> None:
    """Compose's one-shot `keys` step: a second run keeps the first run's keys."""
    env = {**os.environ, **_image_env(tmp_path)}
    seen = []
    for _ in range(2):
        done = await asyncio.create_subprocess_exec(*_command("keys"), str(tmp_path / "shared"), env=env)
        assert await done.wait() == 0
        seen.append((tmp_path / "shared" / "keys" / "auth_private.pem").read_bytes())
    assert seen[0] == seen[1]
    assert seen[0].startswith(b"-----BEGIN PRIVATE KEY-----")


async def test_migrate_waits_for_a_database_that_is_not_up_then_gives_up(tmp_path: Path) -> None:
    """The hook Job may start before PostgreSQL answers: it retries, then fails the Job clearly."""
    closed = free_port()
    env = {
        **os.environ,
        **_image_env(tmp_path),
        "SHOP_DATABASE_URL": f"postgresql+asyncpg://shop@127.0.0.1:{closed}/shop_{{service}}",
        "SHOP_MIGRATE_WAIT_SECONDS": "3",
        "SHOP_LOG_FORMAT": "text",
    }
    done = await asyncio.create_subprocess_exec(
        *_command("migrate"),
        "catalog",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await done.communicate())[0].decode()
    assert done.returncode == 1
    assert out.count("database not reachable yet") >= 2
    unknown = await asyncio.create_subprocess_exec(
        *_command("migrate"), "cart", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert await unknown.wait() == 2
    assert unknown.stderr is not None
    assert "no SQL schema for cart" in (await unknown.stderr.read()).decode()
