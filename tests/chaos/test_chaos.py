"""Faults under a steady mixed load, against the platform as `make run` starts it.

The real launcher runs every process; a few shoppers browse, add to their carts, check out and
review in bounded loops (to 127.0.0.1) while each domain service in turn is SIGKILLed (the
launcher starts it again), Redis is killed and restarted, the gateway itself is SIGKILLed, and on
PostgreSQL every connection to the suite's database is terminated. Then, once recovery passes have
run, nothing acknowledged is missing: every 2xx order, its single payment, every review and
activity event (but those a killed gateway still held in memory), and the stock adds up with no
reservation left behind.

What each answer may be: 2xx, a 4xx the operation can meet anyway (409: the cart is being checked
out, out of stock, already reviewed), or 503/504 JSON while a part it needs is down, within its
deadline; while the gateway is down, a refused or reset connection at once. Never a 500, never a
hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.ports import DEFAULT_SERVICES
from deploy.local.redis_server import EmbeddedRedis
from shop.activity.v1 import activity_pb2, activity_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc
from tests.e2e.test_platform import ADMIN_EMAIL, ADMIN_PASSWORD, Launched, _free_offset, _launch, _stop
from tests.support.run import redis_prefix
from tests.support.tokens import bearer

PRODUCTS = 3
INITIAL_STOCK = 10_000
SHOPPERS = 3
# Client deadline per request: the gateway's checkout budget (30 s) plus slack; nothing may take it.
CHECKOUT_SECONDS = 35.0
OTHER_SECONDS = 12.0
# How long a restarted part may take to be healthy again on a busy 2-core machine.
RECOVERY_SECONDS = 120.0
# Faster recovery passes than production, so leftovers are settled within the test.
FAST_RECOVERY = {
    # Start-up on a loaded machine takes a while.
    "SHOP_STARTUP_TIMEOUT": "240",
    "SHOP_RECOVERY_AFTER_SECONDS": "20",
    "SHOP_RECOVERY_INTERVAL_SECONDS": "2",
    "SHOP_PROVIDER_LOOKUP_AFTER_SECONDS": "5",
    "SHOP_PROVIDER_LOOKUP_INTERVAL_SECONDS": "2",
    "SHOP_SWEEP_INTERVAL_SECONDS": "2",
    "SHOP_CHECKOUT_HOLD_SECONDS": "60",
    "SHOP_STREAM_CLAIM_IDLE_SECONDS": "5",
}
# A route that needs each service (and only reaches it through the gateway), as (method, path, who).
NEEDS = {
    "auth": ("POST", "/auth/login/", "login"),
    "catalog": ("GET", "/catalog/categories/", None),
    "profile": ("GET", "/profile/", "shopper"),
    "cart": ("GET", "/cart/", "shopper"),
    "inventory": ("GET", "/inventory/low-stock/", "admin"),
    "orders": ("GET", "/orders/", "shopper"),
    "shipping": ("GET", "/shipping/methods/", None),
    "reviews": ("GET", "/products/{product}/reviews/", None),
    "activity": ("GET", "/me/recently-viewed/", "shopper"),
    "content": ("GET", "/posts/", None),
}
# Payments is reached only inside a checkout: its outage shows in the load's checkouts.
# What a client's socket reports when the gateway process is gone (or dies mid-answer).
CONNECTION_LOST = ("refused", "reset", "RemoteDisconnected", "BrokenPipe", "Connection aborted")
# A killed gateway loses the activity events still in its queue: they wait up to 50 ms for a batch
# (gateway.activity.LINGER_SECONDS), plus the round trip to Redis on a busy machine. The 2xx answers
# this close to a kill are not required to have their event stored.
GATEWAY_QUEUE_SECONDS = 1.0


@dataclass
class Answer:
    op: str
    status: int  # 0: no HTTP answer at all
    body: Any
    seconds: float
    started: float
    user: int = 0
    path: str = ""
    sent: Any = None


@dataclass
class Shop:
    launched: Launched
    admin: str
    products: list[int]
    shoppers: list[tuple[int, str]]  # (user id, token)
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Numbers the reviews across every phase, so the newest of a shopper's is known.
    sequence: Iterator[int] = field(default_factory=itertools.count)
    # When (time.monotonic) the gateway was SIGKILLed.
    gateway_kills: list[float] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.launched.api

    def call(
        self, op: str, method: str, path: str, body: Any = None, token: str | None = None, user: int = 0
    ) -> Answer:
        seconds = CHECKOUT_SECONDS if op == "checkout" else OTHER_SECONDS
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=seconds) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError) as exc:  # a hang shows here as a timeout
            status, raw = 0, json.dumps({"transport": repr(exc)}).encode()
        try:
            parsed = json.loads(raw or b"null")
        except ValueError:
            parsed = {"not json": raw[:200].decode(errors="replace")}
        answer = Answer(op, status, parsed, time.monotonic() - started, started, user, path, body)
        with self.lock:
            self.answers.append(answer)
        return answer


def _login(api: str, email: str, password: str) -> tuple[int, str]:
    data = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(
        api + "/auth/login/", data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        token: str = json.loads(reply.read())["token"]
    payload = json.loads(_b64(token.split(".")[1]))
    return int(payload["sub"]), token


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class PrivateRedis:
    """A Redis of the test's own (the external-Redis variant never restarts the shared one), on an
    event loop in a thread of its own so the test can stop and start it between its steps."""

    def __init__(self, folder: Path, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = EmbeddedRedis(folder, port)
        self._run(self.server.start(60))

    def _run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(120)

    @property
    def url(self) -> str:
        return self.server.url

    def kill(self) -> None:
        self._run(self.server.process.stop(0))

    def start_again(self) -> None:
        self.server = self.server.restarted()
        self._run(self.server.start(60))

    def close(self) -> None:
        self._run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis | None]:
    if not os.environ.get("SHOP_TEST_REDIS_URL"):
        yield None
        return
    server = PrivateRedis(tmp_path_factory.mktemp("chaos-redis"), _free_offset().redis)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, private_redis: PrivateRedis | None
) -> Iterator[Shop]:
    env = dict(FAST_RECOVERY)
    if os.environ.get("SHOP_TEST_DATABASE_URL"):
        env["SHOP_DATABASE_URL"] = database_url
    if private_redis is not None:
        env["SHOP_REDIS_URL"] = private_redis.url
        env["SHOP_REDIS_PREFIX"] = redis_prefix("e2e")
    data_dir = tmp_path_factory.mktemp("chaos") / "data"
    launched = _launch(data_dir, _free_offset(), env, seconds=300)
    try:
        _, admin = _login(launched.api, ADMIN_EMAIL, ADMIN_PASSWORD)
        shop = Shop(launched, admin, [], [])
        for n in range(PRODUCTS):
            created = shop.call(
                "setup",
                "POST",
                "/products/",
                {"name": f"Chaos {n}", "price": 5.0 + n, "stock": INITIAL_STOCK},
                admin,
            )
            assert created.status == 201, created
            shop.products.append(created.body["id"])
        for n in range(SHOPPERS):
            email = f"chaos-{n}-{random.getrandbits(32):x}@example.com"
            password = f"chaos-shopper-{random.getrandbits(64):x}"
            assert (
                shop.call("setup", "POST", "/auth/register/", {"email": email, "password": password}).status
                == 201
            )
            shop.shoppers.append(_login(launched.api, email, password))
        yield shop
    finally:
        if launched.process.poll() is None:
            _stop(launched)


class Load:
    """Each shopper in a thread of its own: view, add to cart, every third round check out, review."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._shopper, args=(user, token), daemon=True)
            for user, token in shop.shoppers
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(CHECKOUT_SECONDS + 5)
            assert not thread.is_alive(), "a shopper is stuck"

    def _shopper(self, user: int, token: str) -> None:
        shop, rounds = self.shop, 0
        rng = random.Random(user)
        # Bounded: a few thousand rounds at most, whatever happens to the clock.
        while not self.stop.is_set() and rounds < 5000:
            rounds += 1
            product = rng.choice(shop.products)
            shop.call("view", "GET", f"/products/{product}", token=token, user=user)
            shop.call("browse", "GET", "/products/", user=user)
            shop.call("cart_add", "POST", "/cart/", {"product_id": product, "quantity": 1}, token, user)
            if rounds % 3 == 0:
                shop.call("checkout", "POST", "/orders/", token=token, user=user)
            if rounds % 4 == 0:
                review = {
                    "rating": rng.randint(1, 5),
                    "comment": f"chaos review {user}-{next(shop.sequence)}",
                }
                shop.call("review", "POST", f"/products/{product}/reviews/", review, token, user)
            time.sleep(0.05)


ALLOWED = {
    "view": {200},
    "browse": {200},
    "cart_add": {201},
    "checkout": {201, 409},
    "review": {201, 409},
}


def _check_answers(answers: list[Answer]) -> None:
    """Every answer is an allowed one, an error is JSON, and none took longer than its deadline."""
    wrong = []
    for a in answers:
        if a.op in ("setup", "probe"):
            continue
        ok = a.status in ALLOWED[a.op] or a.status in (503, 504)
        if a.status >= 400 and not (isinstance(a.body, dict) and isinstance(a.body.get("error"), str)):
            ok = False
        if not ok:
            wrong.append((a.op, a.status, a.body, round(a.seconds, 2)))
    assert not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:10]}"
    counts = Counter((a.op, a.status) for a in answers)
    slowest = max((a.seconds for a in answers if a.status in (503, 504)), default=0.0)
    print(f"answers: {dict(sorted(counts.items()))}; slowest 503/504: {slowest:.2f}s")
    for op in ALLOWED:
        assert counts[(op, min(ALLOWED[op]))] > 0, f"no {op} succeeded at all: {counts}"


def _pids(shop: Shop) -> dict[str, int | None]:
    return {name: entry.get("pid") for name, entry in shop.launched.state().items()}


def _wait(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until `check()` holds; a gRPC UNAVAILABLE on the way (a part still coming back)
    counts as not yet."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call) or exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            print(f"{what}: {exc.details()}")
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds:g}s"
        time.sleep(0.2)


def _serving(shop: Shop, service: str) -> bool:
    with grpc.insecure_channel(shop.launched.ports.services[service].addr) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _probe(shop: Shop, service: str) -> Answer:
    method, path, who = NEEDS[service]
    token = shop.shoppers[0][1]
    path = path.format(product=shop.products[0])
    if who == "login":
        return shop.call("probe", method, path, {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    return shop.call("probe", method, path, token=shop.admin if who == "admin" else token if who else None)


def _restarted(shop: Shop, service: str, old_pid: int) -> bool:
    return _pids(shop)[service] not in (old_pid, None) and _serving(shop, service)


def _answers_ok(shop: Shop, service: str) -> bool:
    return _probe(shop, service).status == 200


def _is_503_json(answer: Answer) -> bool:
    return (
        answer.status == 503 and isinstance(answer.body, dict) and isinstance(answer.body.get("error"), str)
    )


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_each_service_killed_under_load_fails_fast_and_comes_back(shop: Shop) -> None:
    first = len(shop.answers)
    recovered: dict[str, float] = {}
    with Load(shop):
        time.sleep(2)
        for service in DEFAULT_SERVICES:
            pid = _pids(shop)[service]
            assert isinstance(pid, int)
            os.kill(pid, signal.SIGKILL)
            _wait(partial(_dead, pid), 10, f"{service} to die")
            if service in NEEDS:
                needing = _probe(shop, service)
                assert _is_503_json(needing), (service, needing)
                assert needing.seconds < 6, (service, needing)
            other = "content" if service == "catalog" else "catalog"
            unaffected = _probe(shop, other)
            assert unaffected.status == 200, (service, unaffected)
            recovered[service] = _wait(
                partial(_restarted, shop, service, pid), RECOVERY_SECONDS, f"{service} back"
            )
            if service in NEEDS:
                _wait(partial(_answers_ok, shop, service), 30, f"{service} routes answering")
    print(f"seconds to healthy after SIGKILL: { {k: round(v, 1) for k, v in recovered.items()} }")
    _check_answers(shop.answers[first:])


def test_redis_restarted_under_load(shop: Shop, private_redis: PrivateRedis | None) -> None:
    first = len(shop.answers)
    with Load(shop):
        time.sleep(2)
        if private_redis is None:
            pid = _pids(shop)["redis"]
            assert isinstance(pid, int)
            os.kill(pid, signal.SIGKILL)  # the launcher starts it again on the same data
            _wait(lambda: _dead(pid), 10, "redis to die")
        else:
            private_redis.kill()
        # Carts live in Redis, and every token is checked against the revocation list there.
        cart = _probe(shop, "cart")
        assert _is_503_json(cart), cart
        assert cart.seconds < 8, cart
        assert _probe(shop, "catalog").status == 200  # public reads go on
        if private_redis is not None:
            private_redis.start_again()
        _wait(lambda: _probe(shop, "cart").status == 200, RECOVERY_SECONDS, "carts back after Redis")
        for service in DEFAULT_SERVICES:
            _wait(partial(_serving, shop, service), RECOVERY_SECONDS, f"{service} healthy after Redis")
    _check_answers(shop.answers[first:])


def _gateway_answers(shop: Shop) -> bool:
    return shop.call("probe", "GET", "/health").status == 200


def _lost_connection(answer: Answer) -> bool:
    """No HTTP answer, because the connection was refused or cut: not a timeout."""
    transport = answer.body.get("transport", "") if isinstance(answer.body, dict) else ""
    return answer.status == 0 and any(sign in transport for sign in CONNECTION_LOST)


def test_gateway_killed_under_load_refuses_fast_and_comes_back(shop: Shop) -> None:
    """With the gateway gone there is nothing to answer 503: clients see the connection refused
    (or reset, for a request in flight) at once, never a hang, and the launcher starts it again."""
    first = len(shop.answers)
    with Load(shop):
        time.sleep(2)
        pid = _pids(shop)["gateway"]
        assert isinstance(pid, int)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        shop.gateway_kills.append(killed)
        _wait(partial(_dead, pid), 10, "gateway to die")
        refused = _probe(shop, "catalog")
        assert _lost_connection(refused), refused
        assert refused.seconds < 2, refused
        back = _wait(
            lambda: _pids(shop)["gateway"] not in (pid, None) and _gateway_answers(shop),
            RECOVERY_SECONDS,
            "gateway back",
        )
        _wait(partial(_answers_ok, shop, "cart"), 30, "signed-in routes answering")
        up = time.monotonic()
        time.sleep(2)  # the load goes on against the new gateway
    print(f"seconds to answering after the gateway's SIGKILL: {back:.1f}")
    answers = shop.answers[first:]
    lost = [a for a in answers if a.status == 0 and a.op != "probe"]
    # Only while it was down, each at once, and only a refused or cut connection.
    wrong = [
        (a.op, a.body, round(a.seconds, 2))
        for a in lost
        if not (_lost_connection(a) and a.seconds < 5 and killed - 5 < a.started + a.seconds < up)
    ]
    assert not wrong, f"{len(wrong)} bad failures while the gateway was down, e.g. {wrong[:5]}"
    print(f"requests refused or cut while the gateway was down: {len(lost)}")
    _check_answers([a for a in answers if a.status != 0])


def test_database_connections_dropped_under_load(shop: Shop, database_url: str) -> None:
    if not os.environ.get("SHOP_TEST_DATABASE_URL"):
        pytest.skip("SQLite: each service's database is a file in its own process, nothing to restart")
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)

    async def terminate() -> int:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
        )
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                url.database,
            )
        finally:
            await conn.close()
        return len(rows)

    first = len(shop.answers)
    with Load(shop):
        time.sleep(2)
        for _ in range(3):
            assert asyncio.run(terminate()) > 0
            time.sleep(3)
        for service in DEFAULT_SERVICES:
            _wait(partial(_serving, shop, service), RECOVERY_SECONDS, f"{service} healthy after the drop")
    _check_answers(shop.answers[first:])


def _admin_grpc(shop: Shop, service: str) -> grpc.Channel:
    return grpc.insecure_channel(shop.launched.ports.services[service].addr)


def _stock(shop: Shop, product: int) -> tuple[int, int]:
    """(on hand, reserved); UNAVAILABLE is asked again for a while (see `_read`)."""
    for _ in range(100):
        with _admin_grpc(shop, "inventory") as channel:
            try:
                level = (
                    inventory_pb2_grpc.InventoryServiceStub(channel)
                    .GetStock(
                        inventory_pb2.GetStockRequest(product_id=product),
                        metadata=bearer(shop.admin),
                        timeout=10,
                    )
                    .level
                )
            except grpc.RpcError as exc:
                if not isinstance(exc, grpc.Call) or exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.3)
                continue
        return level.on_hand, level.reserved
    raise AssertionError("inventory still UNAVAILABLE")


def _read(shop: Shop, path: str, token: str | None = None) -> Answer:
    """A GET once the platform has settled: the first calls after a restart may still meet a
    connection to the old Redis (an allowed, fast 503), so a 503 is asked again for a while."""
    for _ in range(100):
        answer = shop.call("check", "GET", path, token=token)
        if answer.status != 503:
            assert answer.status == 200, answer
            return answer
        time.sleep(0.3)
    raise AssertionError(f"{path} still 503")


def _all_orders(shop: Shop) -> list[dict[str, Any]]:
    orders, token = [], ""
    while True:
        path = "/orders/?page_size=100" + (f"&page_token={token}" if token else "")
        page = _read(shop, path, shop.admin)
        orders += page.body["orders"]
        token = page.body["next_page_token"]
        if not token:
            return orders


def _books(shop: Shop) -> tuple[dict[int, dict[str, Any]], Counter[int], list[str]]:
    """Every order, what the paid ones sold, and what does not balance yet: an order still pending,
    a paid order not charged exactly once, money kept for an order that is not paid. Only orders of
    this shop's products: on PostgreSQL the database is shared with the session's other tests, whose
    orders may have moved on (shipped) legitimately."""
    ours = set(shop.products)
    orders = {o["order_id"]: o for o in _all_orders(shop) if any(i["product_id"] in ours for i in o["items"])}
    sold: Counter[int] = Counter()
    wrong: list[str] = []
    with _admin_grpc(shop, "payments") as channel:
        payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        for order_id, order in orders.items():
            reply = payments.ListPayments(
                payments_pb2.ListPaymentsRequest(order_reference=f"order:{order_id}"),
                metadata=bearer(shop.admin),
                timeout=10,
            )
            captured = [p.id for p in reply.payments if p.status == payments_pb2.PAYMENT_STATUS_CAPTURED]
            status = order["status"]
            if status == "paid":
                for item in order["items"]:
                    sold[item["product_id"]] += item["quantity"]
            if status == "pending" or (status == "paid") != (len(captured) == 1) or len(captured) > 1:
                wrong.append(f"order {order_id} {status} with captured payments {captured}")
    return orders, sold, wrong


def test_nothing_acknowledged_is_lost(shop: Shop) -> None:
    """Runs last: what the load was told succeeded is all there, and the books balance."""
    answers = [a for a in shop.answers if a.op not in ("setup", "probe")]
    assert answers, "the fault tests ran no load"
    everything = list(shop.answers)
    # Recovery passes settle checkouts cut short (orders, payments, inventory or their database
    # connections killed mid-way): they act on a checkout SHOP_RECOVERY_AFTER_SECONDS after it stopped.
    _wait(lambda: all(_stock(shop, p)[1] == 0 for p in shop.products), 120, "every reservation settled")
    books: list[tuple[dict[int, dict[str, Any]], Counter[int], list[str]]] = []

    def balanced() -> bool:
        books[:] = [_books(shop)]
        return not books[0][2]

    with contextlib.suppress(AssertionError):  # the assertions below say what does not balance
        _wait(balanced, RECOVERY_SECONDS, "the books balanced")
    assert books, "orders or payments never answered"
    orders, sold, wrong = books[0]
    assert not wrong, wrong  # charged once per paid order, no money kept for an unpaid one

    acknowledged = [a for a in everything if a.op == "checkout" and a.status == 201]
    assert acknowledged
    for a in acknowledged:
        order = orders.get(a.body["order_id"])
        assert order is not None, a.body
        assert order["status"] == "paid", (a.body, order)
    for product in shop.products:
        on_hand, reserved = _stock(shop, product)
        assert (on_hand + sold[product], reserved) == (INITIAL_STOCK, 0), product

    # One review per shopper and product (a new one replaces it): the one listed is the last
    # acknowledged, or a later one whose answer was lost to a fault.
    for product in shop.products:
        listed = _read(shop, f"/products/{product}/reviews/")
        rounds = {}
        for review in listed.body:
            user, _, turn = review["comment"].removeprefix("chaos review ").partition("-")
            rounds[int(user)] = int(turn)
        for a in everything:
            if a.op == "review" and a.status == 201 and a.path == f"/products/{product}/reviews/":
                turn = int(a.sent["comment"].rpartition("-")[2])
                assert rounds.get(a.user, -1) >= turn, (a.sent, listed.body)

    def near_gateway_kill(a: Answer) -> bool:
        return any(abs(a.started + a.seconds - k) < GATEWAY_QUEUE_SECONDS for k in shop.gateway_kills)

    expected = Counter(
        (a.user, kind)
        for a in everything
        for kind in [{"cart_add": "CART_ADDED", "checkout": "ORDER_PLACED", "review": "REVIEWED"}.get(a.op)]
        if kind and a.status == 201 and not near_gateway_kill(a)
    )

    def recorded() -> Counter[tuple[int, str]]:
        found: Counter[tuple[int, str]] = Counter()
        with _admin_grpc(shop, "activity") as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)
            for user, _ in shop.shoppers:
                token = ""
                while True:
                    reply = stub.ListUserEvents(
                        activity_pb2.ListUserEventsRequest(user_id=user, page_size=500, page_token=token),
                        metadata=bearer(shop.admin),
                        timeout=10,
                    )
                    for event in reply.events:
                        found[
                            (user, activity_pb2.EventType.Name(event.type).removeprefix("EVENT_TYPE_"))
                        ] += 1
                    token = reply.next_page_token
                    if not token:
                        break
        return found

    _wait(lambda: all(recorded()[key] >= n for key, n in expected.items()), 60, "every activity event stored")
