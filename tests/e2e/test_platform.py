"""The platform as `make run` starts it: the real launcher, every service a process of its own.

Walks the documented API with tests/e2e/walk_api.py, checks health, reflection and metrics of
every service, kills a service to see the gateway answer 503, and restarts the platform on the
same data folder to see the data kept.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from deploy.local.ports import DEFAULT_SERVICES, PortTable, port_table
from deploy.local.supervisor import busy_ports, state_file
from deploy.observe import promql
from services.payments.providers import SLOW_CARD
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.e2e import walk_api
from tests.support import observed
from tests.support.cards import tokenize_sync
from tests.support.leaks import card_number_found, cvc_found, pick_cvc, random_card_number, read_files
from tests.support.run import redis_prefix
from tests.support.tokens import bearer

ADMIN_EMAIL = "admin-e2e@shop.test"
ADMIN_PASSWORD = "e2e-admin-password"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _free_offset() -> PortTable:
    """A free block of ports, every one outside the kernel's ephemeral range (32768-60999): a
    killed service's port must not be taken by another process's outgoing connection or
    bind-to-0 before the service comes back on it."""
    for _ in range(200):
        table = port_table(random.randrange(10950, 15400))
        ports = table.all_ports()
        if all(p < 32768 or p > 60999 for p in ports.values()) and not busy_ports(ports):
            return table
    raise RuntimeError("no free block of ports for a second platform")


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    ports: PortTable
    data_dir: Path

    @property
    def api(self) -> str:
        return self.ports.api_url

    def state(self) -> dict[str, dict[str, int | None]]:
        loaded: dict[str, dict[str, int | None]] = json.loads(state_file(self.data_dir).read_text())
        return loaded


def _launch(data_dir: Path, ports: PortTable, env_extra: dict[str, str], seconds: float = 120) -> Launched:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOP_")},
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_PORT_OFFSET": str(ports.offset),
        "SHOP_ADMIN_EMAIL": ADMIN_EMAIL,
        "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **env_extra,
    }
    log = (data_dir.parent / f"launcher-{data_dir.name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.local"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    launched = Launched(process, ports, data_dir)
    deadline = time.monotonic() + seconds
    while not state_file(data_dir).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"launcher did not come up:\n{Path(log.name).read_text()[-4000:]}")
        time.sleep(0.2)
    return launched


def _stop(launched: Launched) -> int:
    launched.process.send_signal(signal.SIGINT)
    try:
        return launched.process.wait(60)
    except subprocess.TimeoutExpired:
        launched.process.kill()
        raise


@pytest.fixture(scope="module")
def storage_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The same storage the rest of the suite uses (external servers when configured)."""
    env: dict[str, str] = {}
    if os.environ.get("SHOP_TEST_DATABASE_URL"):
        env["SHOP_DATABASE_URL"] = database_url
    if os.environ.get("SHOP_TEST_REDIS_URL"):
        env["SHOP_REDIS_URL"] = redis_url
        env["SHOP_REDIS_PREFIX"] = redis_prefix("e2e")
    return env


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, storage_env: dict[str, str]) -> Iterator[Launched]:
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    platform = _launch(data_dir, _free_offset(), storage_env)
    try:
        yield platform
    finally:
        if platform.process.poll() is None:
            _stop(platform)


def test_walk_of_the_documented_api(launched: Launched) -> None:
    walk_api.walk(walk_api.Client(launched.api, verbose=False), ADMIN_EMAIL, ADMIN_PASSWORD)


def test_data_keys_and_logs_are_the_owners_alone(launched: Launched) -> None:
    """Every file the platform made in its data folder (SQLite files, keys, Redis data, logs) is
    readable by its owner only; every folder is closed to others."""
    paths = [launched.data_dir, *launched.data_dir.rglob("*")]
    kinds = {p.suffix for p in paths} | {p.name for p in paths}
    assert {"keys", "logs", ".log", ".pem", "service_secret", ".json"} <= kinds
    if not os.environ.get("SHOP_TEST_DATABASE_URL"):
        assert {".db", ".db-wal"} <= kinds
    if not os.environ.get("SHOP_TEST_REDIS_URL"):
        assert {"redis_password", "valkey.conf", ".aof"} <= kinds
    loose = {str(p): oct(p.stat().st_mode & 0o777) for p in paths if p.stat().st_mode & 0o077}
    assert not loose, loose


@pytest.mark.skipif(bool(os.environ.get("SHOP_TEST_REDIS_URL")), reason="the embedded Valkey is not started")
def test_the_embedded_redis_refuses_a_client_without_its_password(launched: Launched) -> None:
    import redis

    stranger = redis.Redis(host="127.0.0.1", port=launched.ports.redis, socket_connect_timeout=5)
    with pytest.raises(redis.RedisError, match=r"(?i)auth"):
        stranger.get("anything")
    stranger.close()


@pytest.fixture
async def channels(launched: Launched) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    opened = {
        name: grpc.aio.insecure_channel(launched.ports.services[name].addr) for name in DEFAULT_SERVICES
    }
    yield opened
    for channel in opened.values():
        await channel.close()


async def test_every_service_is_healthy_and_reflects(
    launched: Launched, channels: dict[str, grpc.aio.Channel]
) -> None:
    for name, channel in channels.items():
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        listed = [s.name async for r in call for s in r.list_services_response.service]
        assert f"shop.{name}.v1.{name.capitalize()}Service" in listed, (name, listed)
        assert "grpc.health.v1.Health" in listed


def test_every_process_serves_metrics(launched: Launched) -> None:
    urllib.request.urlopen(f"{launched.api}/products/", timeout=10).read()
    ports = [launched.ports.gateway_metrics, *(launched.ports.services[n].metrics for n in DEFAULT_SERVICES)]
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert "shop_" in text, port
    catalog = launched.ports.services["catalog"].metrics
    text = urllib.request.urlopen(f"http://127.0.0.1:{catalog}/metrics", timeout=10).read().decode()
    assert 'shop_rpc_server_requests_total{code="OK",method="ListProducts",service="catalog"}' in text


def test_every_metric_a_dashboard_or_alert_reads_is_served(launched: Launched) -> None:
    """Checked live against every process's /metrics, not against a list (tests/observe)."""
    ports = [launched.ports.gateway_metrics, *(launched.ports.services[n].metrics for n in DEFAULT_SERVICES)]
    pages = [
        urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=10).read().decode() for p in ports
    ]
    served = promql.served_series(pages)
    used = observed.used_metric_names()
    assert len(used) > 20
    missing = {
        name: sorted(files) for name, files in used.items() if name not in served | promql.SCRAPE_SERIES
    }
    assert not missing, f"read by dashboards or alerts, served by no process: {missing}"


def test_killed_service_gives_503_fast_and_the_rest_go_on(launched: Launched) -> None:
    reviews_pid = launched.state()["reviews"]["pid"]
    assert isinstance(reviews_pid, int)
    os.kill(reviews_pid, signal.SIGKILL)
    time.sleep(0.5)
    client = walk_api.Client(launched.api, verbose=False)
    started = time.monotonic()
    reply = client.call("GET", "/products/1/reviews/")
    assert reply.status == 503
    assert isinstance(reply.body, dict)
    assert "error" in reply.body
    assert time.monotonic() - started < 3
    assert client.call("GET", "/products/").status == 200
    assert launched.process.poll() is None


def _login(client: walk_api.Client, email: str, password: str) -> str:
    token: str = client.call("POST", "/auth/login/", {"email": email, "password": password}).body["token"]
    return token


def test_a_card_paid_checkout_leaves_the_card_in_no_file(launched: Launched) -> None:
    """The card goes to payments' tokenization endpoint (its port from the launcher's table, as
    printed by `make run`), the checkout carries the token. Then no file of the data folder (logs,
    SQLite files and journals, Redis' append-only file) holds the card number, and no log file
    the CVC (tests/support/leaks.py says why those checks are sound)."""
    launcher_log = launched.data_dir.parent / f"launcher-{launched.data_dir.name}.log"
    assert (
        f"Card tokenization (test payment provider): {launched.ports.tokens_url}" in launcher_log.read_text()
    )
    assert launched.state()["payments"]["http_port"] == launched.ports.tokens_port
    logs = launched.data_dir / "logs"
    number, cvc = random_card_number(), pick_cvc(read_files(logs))

    client = walk_api.Client(launched.api, verbose=False)
    admin = _login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    product = client.call("POST", "/products/", {"name": "Safe", "price": 9.5, "stock": 2}, token=admin)
    email = f"card-{random.getrandbits(40):x}@example.com"
    client.call("POST", "/auth/register/", {"email": email, "password": "securepassword"})
    customer = _login(client, email, "securepassword")
    client.call("POST", "/cart/", {"product_id": product.body["id"], "quantity": 1}, token=customer)
    token = tokenize_sync(launched.ports.tokens_port, number, cvc=cvc)
    refused = client.call("POST", "/orders/", {"payment": {"card": {"number": number, "cvc": cvc}}}, customer)
    assert refused.status == 400
    paid = client.call("POST", "/orders/", {"payment": {"token": token}}, customer)
    assert paid.status == 201, paid.body
    # A token pays once.
    client.call("POST", "/cart/", {"product_id": product.body["id"], "quantity": 1}, token=customer)
    again = client.call("POST", "/orders/", {"payment": {"token": token}}, customer)
    assert (again.status, again.body) == (
        409,
        {"error": "payment token was already used; tokenize the card again"},
    )

    # The processes' output reaches the log files asynchronously: wait for the checkout's lines.
    _wait_for(lambda: "/v1/tokens" in (logs / "payments.log").read_text())
    _wait_for(lambda: "/api/orders/" in (logs / "gateway.log").read_text())
    assert card_number_found(read_files(launched.data_dir), number) == []
    assert cvc_found(read_files(logs), cvc) == []


def test_data_survives_a_restart(launched: Launched, storage_env: dict[str, str]) -> None:
    client = walk_api.Client(launched.api, verbose=False)
    admin = client.call("POST", "/auth/login/", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).body[
        "token"
    ]
    email = f"keep-{random.getrandbits(40):x}@example.com"
    assert (
        client.call("POST", "/auth/register/", {"email": email, "password": "securepassword"}).status == 201
    )
    token = client.call("POST", "/auth/login/", {"email": email, "password": "securepassword"}).body["token"]
    pid = client.call("POST", "/products/", {"name": "Kept", "price": 12.5, "stock": 3}, token=admin).body[
        "id"
    ]
    item = client.call("POST", "/cart/", {"product_id": pid, "quantity": 1}, token=token).body["item_id"]

    assert _stop(launched) == 0
    assert not state_file(launched.data_dir).exists()
    again = _launch(launched.data_dir, launched.ports, storage_env)
    try:
        client = walk_api.Client(again.api, verbose=False)
        got = client.call("GET", f"/products/{pid}")
        assert got.status == 200
        assert got.body["name"] == "Kept"
        assert got.body["stock"] == 3
        # The token from before the restart is still good, and the cart (in Redis) is still there.
        assert client.call("GET", "/cart/", token=token).body == {
            str(item): {"product_id": pid, "quantity": 1}
        }
    finally:
        assert _stop(again) == 0


def test_orders_killed_mid_checkout_is_settled_when_it_comes_back(
    tmp_path: Path, storage_env: dict[str, str]
) -> None:
    """SIGKILL of the orders process while its checkout's charge is at the provider (stock held,
    money about to be taken). After a restart the order is completed, not left in limbo: paid once,
    stock taken once, no hold left, the cart emptied."""
    data_dir = tmp_path / "data"
    ports = _free_offset()
    first = _launch(data_dir, ports, storage_env)
    try:
        client = walk_api.Client(first.api, verbose=False)
        admin = _login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        product = client.call(
            "POST", "/products/", {"name": "Kettle", "price": 30.0, "stock": 5}, token=admin
        )
        product_id = product.body["id"]
        email = f"kill-{random.getrandbits(40):x}@example.com"
        client.call("POST", "/auth/register/", {"email": email, "password": "securepassword"})
        customer = _login(client, email, "securepassword")
        client.call("POST", "/cart/", {"product_id": product_id, "quantity": 2}, token=customer)

        payment = {"token": tokenize_sync(ports.tokens_port, SLOW_CARD)}
        with ThreadPoolExecutor(1) as pool:
            checkout = pool.submit(client.call, "POST", "/orders/", {"payment": payment}, customer)
            order_id = _wait_for(lambda: _only_order(client, customer))
            _wait_for(lambda: _payments(ports, admin, order_id) == [payments_pb2.PAYMENT_STATUS_UNSPECIFIED])
            assert _stock(ports, admin, product_id) == (5, 2)  # held, and the charge is at the provider
            orders_pid = first.state()["orders"]["pid"]
            assert isinstance(orders_pid, int)
            os.kill(orders_pid, signal.SIGKILL)
            assert checkout.result(timeout=30).status == 503
    finally:
        _stop(first)

    # Back with a recovery pass that takes any PENDING order at once.
    again = _launch(
        data_dir,
        ports,
        {**storage_env, "SHOP_RECOVERY_AFTER_SECONDS": "0", "SHOP_RECOVERY_INTERVAL_SECONDS": "1"},
    )
    try:
        client = walk_api.Client(again.api, verbose=False)
        # The documented order body has no status; the list of one's orders does.
        _wait_for(
            lambda: client.call("GET", "/orders/", token=customer).body["orders"][0]["status"] == "paid"
        )
        assert _payments(ports, admin, order_id) == [payments_pb2.PAYMENT_STATUS_CAPTURED]
        assert _stock(ports, admin, product_id) == (3, 0)
        assert client.call("GET", "/cart/", token=customer).body == {}
    finally:
        _stop(again)


def _wait_for(check: Callable[[], T], seconds: float = 30) -> T:
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
    return result


def _only_order(client: walk_api.Client, token: str) -> int:
    orders = client.call("GET", "/orders/", token=token).body["orders"]
    return int(orders[0]["order_id"]) if orders else 0


def _channel(ports: PortTable, service: str) -> grpc.Channel:
    return grpc.insecure_channel(ports.services[service].addr)


def _stock(ports: PortTable, token: str, product_id: int) -> tuple[int, int]:
    with _channel(ports, "inventory") as channel:
        reply = inventory_pb2_grpc.InventoryServiceStub(channel).GetStock(
            inventory_pb2.GetStockRequest(product_id=product_id), metadata=bearer(token), timeout=5
        )
    return reply.level.on_hand, reply.level.reserved


def _payments(ports: PortTable, token: str, order_id: int) -> list[int]:
    with _channel(ports, "payments") as channel:
        reply = payments_pb2_grpc.PaymentsServiceStub(channel).ListPayments(
            payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}"),
            metadata=bearer(token),
            timeout=5,
        )
    return [p.status for p in reply.payments]
