"""A new service is its package plus one entry in the table of services (docs/writing-a-service.md):
the launcher starts it, waits for its gRPC health check, and another service reaches it by name
through the kit's channels, with no kit file changed.

The test does what the guide says, outside the repository: two throwaway packages in a temp folder
on PYTHONPATH (`echo` answers, `relay` calls `echo` by name), and a copy of services/topology.toml
with their entries added, which SHOP_TOPOLOGY_FILE hands to the launcher and every process it starts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.supervisor import busy_ports, state_file
from services.kit import topology

REPO = Path(__file__).resolve().parents[2]

ECHO = '''
"""A throwaway service that answers Say with what it was sent, prefixed."""

import grpc

from services.kit.server import Registration, Runtime


async def say(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return b"echo: " + request


def add(servicer: object, server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        "test.echo.v1.EchoService", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server.add_generic_rpc_handlers((handler,))


async def build(runtime: Runtime) -> list[Registration]:
    return [Registration(None, add, "test.echo.v1.EchoService")]
'''

RELAY = '''
"""A throwaway service that passes Relay on to the echo service, found by name."""

import grpc

from services.kit.server import Registration, Runtime


async def build(runtime: Runtime) -> list[Registration]:
    say = runtime.channels.channel("echo").unary_unary("/test.echo.v1.EchoService/Say")

    async def relay(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        answer: bytes = await say(request)
        return b"relayed " + answer

    def add(servicer: object, server: grpc.aio.Server) -> None:
        handler = grpc.method_handlers_generic_handler(
            "test.relay.v1.RelayService", {"Relay": grpc.unary_unary_rpc_method_handler(relay)}
        )
        server.add_generic_rpc_handlers((handler,))

    return [Registration(None, add, "test.relay.v1.RelayService")]
'''


def _package(root: Path, name: str, service: str) -> None:
    """A service package the way the guide lays one out: __main__ is one `run` call."""
    package = root / f"throwaway_{name}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "service.py").write_text(textwrap.dedent(service))
    (package / "__main__.py").write_text(
        f"from services.kit.server import run\n\nfrom .service import build\n\nrun({name!r}, build)\n"
    )


def _table_with(tmp_path: Path, entries: str) -> Path:
    table = tmp_path / "topology.toml"
    table.write_text(topology.DEFAULT_FILE.read_text() + entries)
    return table


def _free_offset(ports: list[int]) -> int:
    # Below the ephemeral range, as the e2e suite picks its offsets.
    for _ in range(200):
        offset = random.randrange(10950, 15400)
        if not busy_ports({str(p): p + offset for p in ports}):
            return offset
    raise RuntimeError("no free block of ports")


def test_a_new_service_is_its_package_and_one_entry(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    _package(packages, "echo", ECHO)
    _package(packages, "relay", RELAY)
    table = _table_with(
        tmp_path,
        '\n[echo]\ngrpc = 16081\nmetrics = 9131\nmodule = "throwaway_echo"\n'
        '\n[relay]\ngrpc = 16082\nmetrics = 9132\nmodule = "throwaway_relay"\n',
    )
    offset = _free_offset([16081, 16082, 9131, 9132, 6380])
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOP_")},
        "PYTHONPATH": os.pathsep.join([str(packages), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "SHOP_TOPOLOGY_FILE": str(table),
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_PORT_OFFSET": str(offset),
    }
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "deploy.local", "--services", "echo,relay", "--no-gateway"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not state_file(data_dir).exists():
            assert launcher.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)
        state = json.loads(state_file(data_dir).read_text())
        assert state["echo"]["grpc_port"] == 16081 + offset
        assert state["relay"]["grpc_port"] == 16082 + offset
        launched = log.read_text()
        assert "echo is SERVING" in launched
        assert "relay is SERVING" in launched

        with grpc.insecure_channel(f"127.0.0.1:{16081 + offset}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(f"127.0.0.1:{16082 + offset}") as channel:
            relay = channel.unary_unary("/test.relay.v1.RelayService/Relay")
            assert relay(b"hello", timeout=10) == b"relayed echo: hello"
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            assert launcher.wait(60) == 0, log.read_text()[-4000:]
        except subprocess.TimeoutExpired:
            launcher.kill()
            raise
