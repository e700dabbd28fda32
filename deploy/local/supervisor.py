"""Starts the platform's processes in order, watches them, and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

import aiohttp

from deploy.local import demo
from deploy.local.health import NotReady, wait_grpc_serving, wait_http_ok
from deploy.local.keys import KeyFiles, ensure_admin_password, ensure_keys, write_private
from deploy.local.ports import HOST, SERVICES
from deploy.local.process import ChildProcess, say
from deploy.local.redis_server import EmbeddedRedis, RedisStartError
from deploy.local.settings import SHUTDOWN_TIMEOUT, Settings

# Pauses before starting a crashed child again: doubling from the first to the last while it keeps
# crashing, back to the first once it ran longer than RESTART_RESET_AFTER.
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
RESTART_RESET_AFTER = 60.0


class StartupError(RuntimeError):
    """The platform could not start; the message says what and shows the culprit's last lines."""


def busy_ports(ports: dict[str, int]) -> dict[str, int]:
    """Those of `ports` that something already listens on."""
    busy = {}
    for label, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR ignores TIME_WAIT leftovers; a listening socket still makes bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                busy[label] = port
    return busy


def _tail_text(child: ChildProcess, lines: int = 30) -> str:
    tail = child.tail(lines)
    if not tail:
        return f"  ({child.name} printed nothing; see {child.log_path})"
    return "\n".join(f"  {child.name} | {line}" for line in tail) + f"\n  (full log: {child.log_path})"


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.logs_dir = settings.data_dir / "logs"
        self.state_file = state_file(settings.data_dir)
        self.redis: EmbeddedRedis | None = None
        self.redis_url = settings.redis_url or ""
        self.admin_password = settings.admin_password or ""
        self.services: dict[str, ChildProcess] = {}
        self.gateway: ChildProcess | None = None
        self.storefront: ChildProcess | None = None
        self.ready = False
        self.shutting_down = False
        self._lock: IO[bytes] | None = None
        self._wrote_state = False
        # Crashed children are started again after a pause that doubles while they keep crashing.
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._backoff: dict[str, float] = {}

    # --- start ---------------------------------------------------------------------------------

    def _ports_in_use(self) -> dict[str, int]:
        ports = self.settings.ports
        wanted: dict[str, int] = {}
        if self.settings.redis_url is None:
            wanted["embedded redis"] = ports.redis
        for name in self.settings.services:
            wanted[f"{name} grpc"] = ports.services[name].grpc
            wanted[f"{name} metrics"] = ports.services[name].metrics
            http = ports.services[name].http
            if http is not None:
                wanted[f"{name} http"] = http
        if self.settings.gateway:
            wanted["storefront http"] = ports.storefront_http
            wanted["gateway http"] = ports.gateway_http
            wanted["gateway metrics"] = ports.gateway_metrics
        return busy_ports(wanted)

    def _lock_data_dir(self) -> None:
        """One launcher per data folder: two would share Redis files and platform.json."""
        path = self.state_file.parent / "launcher.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.open("a+b")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StartupError(
                f"another launcher is running with the data folder {self.data_dir}; stop it, "
                "or give this one its own SHOP_DATA_DIR (and SHOP_PORT_OFFSET)"
            ) from None
        self._lock = lock

    async def start(self) -> None:
        s = self.settings
        # Everything the platform writes (SQLite files, keys, Redis data, logs) is the owner's alone.
        os.umask(0o077)
        self._lock_data_dir()
        busy = self._ports_in_use()
        if busy:
            listed = ", ".join(f"{port} ({label})" for label, port in busy.items())
            raise StartupError(
                f"ports already in use: {listed}. Is another platform running? "
                "Stop it, or pick other ports with SHOP_PORT_OFFSET."
            )
        for folder in (self.data_dir, self.logs_dir, self.state_file.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        self.state_file.unlink(missing_ok=True)
        keys = ensure_keys(self.data_dir)
        if not self.admin_password:
            self.admin_password = ensure_admin_password(self.data_dir)

        if s.redis_url is None:
            self.redis = EmbeddedRedis(self.data_dir, s.ports.redis, on_exit=self._on_exit)
            say(f"starting embedded Redis on port {s.ports.redis}")
            try:
                await self.redis.start(s.startup_timeout)
            except RedisStartError as exc:
                raise StartupError(str(exc)) from None
            self.redis_url = self.redis.url

        common = self._common_env(keys)
        first, rest = [n for n in s.services if n == "auth"], [n for n in s.services if n != "auth"]
        for name in first:
            await self._start_service(name, common, keys)
        try:
            async with asyncio.TaskGroup() as group:
                for name in rest:
                    group.create_task(self._start_service(name, common, keys))
        except ExceptionGroup as failures:
            startup_errors, others = failures.split(StartupError)
            if others is not None:
                raise others from None
            assert startup_errors is not None
            raise StartupError("\n".join(str(e) for e in startup_errors.exceptions)) from None

        if s.gateway:
            await self._start_gateway(common)
            if s.demo_catalog:
                await self._seed_demo()
            await self._start_storefront(common)
        self._write_state()
        self.ready = True

    def _common_env(self, keys: KeyFiles) -> dict[str, str]:
        env = dict(os.environ)
        # Per-child settings must come from us, not from the launcher's own environment.
        for name in ("SERVICE_NAME", "GRPC_PORT", "METRICS_PORT", "AUTH_PRIVATE_KEY_FILE"):
            env.pop(f"SHOP_{name}", None)
        for spec in SERVICES.values():
            env.pop(spec.http_port_env, None)
        env.setdefault("SHOP_LOG_FORMAT", "text")
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "SHOP_DATA_DIR": str(self.data_dir),
                "SHOP_REDIS_URL": self.redis_url,
                "SHOP_AUTH_PUBLIC_KEY_FILE": str(keys.public_key),
                "SHOP_SERVICE_SECRET_FILE": str(keys.service_secret),
                **self.settings.ports.addresses_env(),
            }
        )
        return env

    async def _start_service(self, name: str, common: dict[str, str], keys: KeyFiles) -> None:
        ports = self.settings.ports.services[name]
        env = {
            **common,
            "SHOP_SERVICE_NAME": name,
            "SHOP_GRPC_PORT": str(ports.grpc),
            "SHOP_METRICS_PORT": str(ports.metrics),
            "SHOP_ADMIN_EMAIL": self.settings.admin_email,
            "SHOP_ADMIN_PASSWORD": self.admin_password,
        }
        if name == "auth":
            env["SHOP_AUTH_PRIVATE_KEY_FILE"] = str(keys.private_key)
        if ports.http is not None:
            env[SERVICES[name].http_port_env] = str(ports.http)
        child = ChildProcess(
            name,
            [sys.executable, "-m", SERVICES[name].module],
            env,
            self.logs_dir / f"{name}.log",
            on_exit=self._on_exit,
        )
        self.services[name] = child
        http = f", HTTP :{ports.http}" if ports.http is not None else ""
        say(f"starting {name} (gRPC {ports.addr}, metrics :{ports.metrics}{http})")
        await child.start()
        try:
            await wait_grpc_serving(child, ports.addr, self.settings.startup_timeout)
        except NotReady as exc:
            raise await self._failure(child, exc) from None
        say(f"{name} is SERVING")

    async def _start_gateway(self, common: dict[str, str]) -> None:
        ports = self.settings.ports
        env = {
            **common,
            "SHOP_SERVICE_NAME": "gateway",
            "SHOP_GATEWAY_PORT": str(ports.gateway_http),
            "SHOP_GATEWAY_METRICS_PORT": str(ports.gateway_metrics),
        }
        argv = [sys.executable, "-m", "gateway"]
        log_path = self.logs_dir / "gateway.log"
        self.gateway = ChildProcess("gateway", argv, env, log_path, on_exit=self._on_exit)
        url = f"http://{HOST}:{ports.gateway_http}/api/health"
        say(f"starting gateway (HTTP :{ports.gateway_http}, metrics :{ports.gateway_metrics})")
        await self.gateway.start()
        try:
            await wait_http_ok(self.gateway, url, self.settings.startup_timeout)
        except NotReady as exc:
            raise await self._failure(self.gateway, exc) from None
        say("gateway is ready")

    async def _seed_demo(self) -> None:
        try:
            created = await demo.seed(
                self.settings.ports.api_url.replace("localhost", HOST),
                self.settings.admin_email,
                self.admin_password,
                self.data_dir,
            )
        except (aiohttp.ClientError, KeyError, ValueError) as exc:
            say(f"demo catalog not made: {exc}")  # the shop still runs, just empty
            return
        if created:
            say(
                f"demo catalog: {created} products in categories, with images, reviews, a banner, a post"
                " (SHOP_DEMO_CATALOG=off: none)"
            )

    async def _start_storefront(self, common: dict[str, str]) -> None:
        """The shop's web pages on one origin with /api; skipped (with a note) when not built."""
        dist = self.settings.storefront_dist
        if not (dist / "index.html").is_file():
            say(f"storefront not started: {dist} is not built (make run builds it)")
            return
        ports = self.settings.ports
        env = {
            **common,
            "SHOP_SERVICE_NAME": "storefront",
            "SHOP_STOREFRONT_PORT": str(ports.storefront_http),
            "SHOP_STOREFRONT_DIST": str(dist),
            "SHOP_STOREFRONT_API_URL": f"http://{HOST}:{ports.gateway_http}",
            "SHOP_STOREFRONT_PROVIDER_URL": f"http://{HOST}:{ports.tokens_port}",
        }
        argv = [sys.executable, "-m", "deploy.local.storefront"]
        log_path = self.logs_dir / "storefront.log"
        self.storefront = ChildProcess("storefront", argv, env, log_path, on_exit=self._on_exit)
        say(f"starting storefront (HTTP :{ports.storefront_http})")
        await self.storefront.start()
        try:
            await wait_http_ok(
                self.storefront, f"http://{HOST}:{ports.storefront_http}/", self.settings.startup_timeout
            )
        except NotReady as exc:
            raise await self._failure(self.storefront, exc) from None
        say("storefront is ready")

    async def _failure(self, child: ChildProcess, exc: Exception) -> StartupError:
        if not child.running:
            await child.wait(2.0)  # drain its last output
        return StartupError(f"{exc}\nlast lines of {child.name}:\n{_tail_text(child)}")

    def _write_state(self) -> None:
        ports = self.settings.ports
        state: dict[str, dict[str, Any]] = {
            name: {
                "pid": c.pid,
                "grpc_port": p.grpc,
                "metrics_port": p.metrics,
                **({"http_port": p.http} if p.http is not None else {}),
            }
            for name, c in self.services.items()
            for p in [ports.services[name]]
        }
        if self.gateway is not None:
            state["gateway"] = {
                "pid": self.gateway.pid,
                "grpc_port": None,
                "metrics_port": ports.gateway_metrics,
                "http_port": ports.gateway_http,
            }
        if self.storefront is not None:
            state["storefront"] = {
                "pid": self.storefront.pid,
                "grpc_port": None,
                "metrics_port": None,
                "http_port": ports.storefront_http,
            }
        if self.redis is not None:
            state["redis"] = {
                "pid": self.redis.process.pid,
                "grpc_port": None,
                "metrics_port": None,
                "port": self.redis.port,
            }
        write_private(self.state_file, (json.dumps(state, indent=2) + "\n").encode())
        self._wrote_state = True

    def banner(self) -> str:
        s = self.settings
        if s.admin_password:
            admin = f"{s.admin_email} (password from SHOP_ADMIN_PASSWORD)"
        else:
            kept = self.data_dir / "admin_password"
            admin = f"{s.admin_email}  password: {self.admin_password}  (kept in {kept})"
        redis = "from SHOP_REDIS_URL"
        if self.redis:
            kept = self.data_dir / "keys" / "redis_password"
            redis = f"redis://{HOST}:{self.redis.port}/0 (embedded; password in {kept})"
        database = "SQLite files in the data folder"
        if os.environ.get("SHOP_DATABASE_URL"):
            database = "from SHOP_DATABASE_URL"
        api = f"Shop API: {s.ports.api_url}" if s.gateway else "Gateway not started (--no-gateway)"
        shop = f"Shop: {s.ports.shop_url}" if self.storefront is not None else "Shop: not built"
        lines = [shop, api]
        if "payments" in s.services:
            lines.append(f"Card tokenization (test payment provider): {s.ports.tokens_url}")
        lines += [
            f"Services: {', '.join(s.services) or 'none'}",
            f"Data folder: {self.data_dir}",
            f"Logs: {self.logs_dir}",
            f"Admin: {admin}",
            f"Redis: {redis}",
            f"Database: {database}",
            "Press Ctrl-C to stop.",
        ]
        rule = "=" * 72
        return "\n".join([rule, *lines, rule])

    # --- run -----------------------------------------------------------------------------------

    def _on_exit(self, child: ChildProcess, code: int) -> None:
        if child.stopping or self.shutting_down:
            return
        if not self.ready:
            say(f"{child.name} exited with code {code} while starting")
            return
        if code == 0:
            # A clean exit is a stop someone asked for (SIGTERM to that one process, as an operator
            # takes a part out): it stays stopped, the way a crash does not.
            say(f"{child.name} (pid {child.pid}) stopped (exit code 0); not restarting it")
            return
        # A child that ran a while before crashing starts over at the shortest pause.
        ran = time.monotonic() - child.started_at if child.started_at else 0.0
        delay = RESTART_FIRST_DELAY if ran > RESTART_RESET_AFTER else self._backoff.get(child.name, 0.0)
        delay = min(max(delay, RESTART_FIRST_DELAY), RESTART_MAX_DELAY)
        self._backoff[child.name] = delay * 2
        rule = "!" * 72
        say(rule)
        say(
            f"{child.name} (pid {child.pid}) EXITED UNEXPECTEDLY with code {code}; "
            f"restarting it in {delay:g}s."
        )
        say(f"last lines of {child.name}:\n{_tail_text(child, 15)}")
        say(rule)
        if child.name not in self._restarts:
            self._restarts[child.name] = asyncio.create_task(
                self._restart(child, delay), name=f"restart-{child.name}"
            )

    async def _restart(self, child: ChildProcess, delay: float) -> None:
        """Starts a crashed child again (same command, ports and data) once it is ready."""
        try:
            await asyncio.sleep(delay)
            if self.shutting_down:
                return
            if self.redis is not None and child is self.redis.process:
                self.redis = self.redis.restarted()
                await self.redis.start(self.settings.startup_timeout)
            else:
                fresh = child.fresh()
                await fresh.start()
                await self._wait_ready(fresh)
            self._write_state()
            say(f"{child.name} restarted")
        except (NotReady, RedisStartError) as exc:
            say(f"{child.name} did not come back: {exc}")  # its exit (if any) schedules the next try
        finally:
            self._restarts.pop(child.name, None)

    async def _wait_ready(self, child: ChildProcess) -> None:
        ports = self.settings.ports
        if child.name in self.services:
            self.services[child.name] = child
            await wait_grpc_serving(child, ports.services[child.name].addr, self.settings.startup_timeout)
        elif child.name == "gateway":
            self.gateway = child
            await wait_http_ok(
                child, f"http://{HOST}:{ports.gateway_http}/api/health", self.settings.startup_timeout
            )
        elif child.name == "storefront":
            self.storefront = child
            await wait_http_ok(
                child, f"http://{HOST}:{ports.storefront_http}/", self.settings.startup_timeout
            )

    # --- stop ----------------------------------------------------------------------------------

    def kill_all(self) -> None:
        for child in self._children():
            child.kill()

    def _children(self) -> list[ChildProcess]:
        children = [*self.services.values()]
        for web_child in (self.gateway, self.storefront):
            if web_child is not None:
                children.append(web_child)
        if self.redis is not None:
            children.append(self.redis.process)
        return children

    async def stop(self) -> None:
        """Gateway first, then all services together, then Redis; SIGKILL whoever overstays."""
        self.shutting_down = True
        for task in list(self._restarts.values()):
            task.cancel()
        await asyncio.gather(*self._restarts.values(), return_exceptions=True)
        if self.storefront is not None and self.storefront.running:
            say("stopping storefront")
            await self.storefront.stop(SHUTDOWN_TIMEOUT)
        if self.gateway is not None and self.gateway.running:
            say("stopping gateway")
            await self.gateway.stop(SHUTDOWN_TIMEOUT)
        services = [c for c in self.services.values() if c.running]
        if services:
            say(f"stopping {', '.join(c.name for c in services)}")
            for child in services:
                child.terminate()
            results = await asyncio.gather(*(c.wait(SHUTDOWN_TIMEOUT) for c in services))
            stragglers = [c for c, stopped in zip(services, results, strict=True) if not stopped]
            if stragglers:
                say(f"killing {', '.join(c.name for c in stragglers)} (no exit within {SHUTDOWN_TIMEOUT:g}s)")
                for child in stragglers:
                    child.kill()
                await asyncio.gather(*(c.wait(5.0) for c in stragglers))
        if self.redis is not None and self.redis.process.running:
            say("stopping embedded Redis")
            await self.redis.stop(SHUTDOWN_TIMEOUT)
        # Wait for the output of children that died earlier, so their logs are complete.
        await asyncio.gather(*(c.wait(2.0) for c in self._children()))
        if self._wrote_state:
            with contextlib.suppress(OSError):
                self.state_file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def state_file(data_dir: Path) -> Path:
    """Where a running launcher lists its children: {name: {pid, grpc_port, metrics_port}}."""
    return data_dir / "run" / "platform.json"
