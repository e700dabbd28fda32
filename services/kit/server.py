"""One call starts a domain service: `run("catalog", build)` in its `__main__`.

`build(runtime)` creates the service's store and servicers from the `Runtime` (settings,
database, Redis, clients) and returns what to register. The kit adds the standard health
service (SERVING only while the service's dependencies answer), reflection, the interceptors,
the metrics endpoint, and a graceful drain on SIGTERM: health goes NOT_SERVING first, then
in-flight RPCs, and work they started with `completion.to_completion`, get `drain_seconds` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import redis.asyncio as aioredis
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import DBAPIError

from services.kit import completion, logs, setting_names, telemetry
from services.kit import redis as kit_redis
from services.kit.clients import Channels, ServiceToken, service_token_issuer
from services.kit.config import ConfigError, ServiceSettings, load
from services.kit.database import Database, Pool
from services.kit.database_url import safe
from services.kit.interceptors import ServiceInterceptor
from services.kit.lease import Lease
from services.kit.principal import TokenVerifier
from services.kit.revocation import RevocationList, TokenChecker
from services.kit.tasks import cancel_and_wait

log = logging.getLogger("shop.server")

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
HealthCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Registration:
    """A servicer and how to add it: `Registration(servicer, add_XServicer_to_server, "pkg.XService")`."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    full_name: str


@dataclass
class Runtime:
    """What a service's `build` gets: its settings and lazily created shared resources."""

    settings: ServiceSettings
    stack: AsyncExitStack
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    # Bound ports of HTTP APIs the service serves beside gRPC (services.kit.http.serve).
    http_ports: dict[str, int] = field(default_factory=dict)
    _db: Database | None = None
    _redis: aioredis.Redis | None = None
    _channels: Channels | None = None
    _tokens: TokenChecker | None = None
    _lease_redis: aioredis.Redis | None = None

    async def database(self, migrations: Path) -> Database:
        """The service's database, migrated to the newest revision in `migrations`."""
        if self._db is None:
            url = self.settings.resolved_database_url()
            try:
                pool = Pool(self.settings.database_pool_size, self.settings.database_max_overflow)
                db = Database(url, pool)  # makes a SQLite file's folder
                self.stack.push_async_callback(db.close)
                await db.ping()
            except (OSError, DBAPIError) as exc:
                # Not a bug to trace back: the setting points nowhere (or the server is down).
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise ConfigError(
                    f"{self.settings.database_setting()}: cannot reach the database "
                    f"{safe(url)}: {reason or type(exc).__name__}"
                ) from None
            await db.migrate(self.settings.service_name, migrations)
            self.checks["database"] = db.ping
            self._db = db
        return self._db

    def settings_as(self, cls: type[SettingsT]) -> SettingsT:
        """The settings with the service's own fields. `run(name, build, Settings)` and the test
        harness already hand over `cls`; plain ServiceSettings are read again with its fields."""
        if isinstance(self.settings, cls):
            return self.settings
        return load(cls, **self.settings.model_dump())

    def background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Runs `work` beside the server until the service stops, which cancels and awaits it."""
        task = asyncio.create_task(work, name=name)
        self.stack.push_async_callback(cancel_and_wait, task)
        return task

    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            if not self.settings.redis_url:
                raise ConfigError(f"SHOP_REDIS_URL is required by the {self.settings.service_name} service")
            client = kit_redis.connect(self.settings.redis_url)
            self.stack.push_async_callback(client.aclose)

            async def ping() -> None:
                await client.ping()

            self.checks["redis"] = ping
            self._redis = client
        return self._redis

    @property
    def tokens(self) -> TokenChecker:
        """How this process checks a bearer token: signature, expiry and auth's revocation list."""
        if self._tokens is None:
            if not self.settings.redis_url:
                raise ConfigError(
                    f"SHOP_REDIS_URL is required by the {self.settings.service_name} service "
                    "(revoked tokens are checked there)"
                )
            # A client of its own, outside the health checks: without Redis, calls with a token
            # fail (UNAVAILABLE) but public reads go on.
            client = kit_redis.connect(self.settings.redis_url)
            self.stack.push_async_callback(client.aclose)
            self._tokens = TokenChecker(
                TokenVerifier(self.settings.public_key_pem()),
                RevocationList(client, self.settings.redis_prefix),
                self.settings.revocation_cache_seconds,
            )
            self.background(self._tokens.listen(), "revocation-listener")
        return self._tokens

    def redis_keys(self) -> kit_redis.Keys:
        return kit_redis.Keys(self.settings.redis_prefix, self.settings.service_name)

    def lease(self, name: str, ttl_seconds: float = 60.0) -> Lease | None:
        """The lease that lets one replica at a time run the periodic pass `name` (None without
        Redis: one process). Its client stays out of the health checks, like the token checker's:
        without Redis the pass waits, the service goes on."""
        if not self.settings.redis_url:
            return None
        if self._lease_redis is None:
            self._lease_redis = kit_redis.connect(self.settings.redis_url)
            self.stack.push_async_callback(self._lease_redis.aclose)
        return Lease(self._lease_redis, self.redis_keys()("lease", name), ttl_seconds)

    @property
    def channels(self) -> Channels:
        if self._channels is None:
            self._channels = Channels(self.settings)
            self.stack.push_async_callback(self._channels.close)
        return self._channels

    def service_token(self) -> ServiceToken:
        """This service's own identity for calls that need it (e.g. orders reserving stock)."""
        from shop.auth.v1 import auth_pb2_grpc

        auth = self.channels.stub(auth_pb2_grpc.AuthServiceStub, "auth")
        secret = self.settings.service_secret()  # read now: a missing secret must fail start-up
        return ServiceToken(service_token_issuer(auth, self.settings.service_name, secret))


Build = Callable[[Runtime], Awaitable[Sequence[Registration]]]


class RunningService:
    """A started service: its bound port, and how to stop it."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        runtime: Runtime,
        health_servicer: health.aio.HealthServicer,
        names: list[str],
    ) -> None:
        self.server = server
        self.port = port
        self.runtime = runtime
        self._health = health_servicer
        self._names = names
        self._watcher: asyncio.Task[None] | None = None

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def check_dependencies(self) -> bool:
        healthy = True
        for dep, check in self.runtime.checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2)
            except Exception as exc:
                healthy = False
                log.warning("dependency unhealthy", extra={"dependency": dep, "error": repr(exc)})
        await self._set_health(healthy)
        return healthy

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.settings.health_check_interval_seconds)
            await self.check_dependencies()

    def start_watching(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="health-watch")

    async def stop(self, grace: float | None = None) -> None:
        await cancel_and_wait(self._watcher)
        await self._health.enter_graceful_shutdown()
        # Give load balancers and Kubernetes probes time to see NOT_SERVING and stop sending
        # new calls before the server starts refusing them.
        await asyncio.sleep(self.runtime.settings.shutdown_delay_seconds)
        grace = self.runtime.settings.drain_seconds if grace is None else grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await self.server.stop(grace)
        # Work that outlives its RPC (a provider call, a checkout) gets the rest of the grace period.
        left = await completion.wait_for_unfinished(deadline - loop.time())
        if left:
            log.warning("stopping with unfinished work", extra={"tasks": left})
        await self.runtime.stack.aclose()


async def start(settings: ServiceSettings, build: Build) -> RunningService:
    """Builds and starts a service on `settings.grpc_port` (0 picks a free port)."""
    stack = AsyncExitStack()
    runtime = Runtime(settings=settings, stack=stack)
    try:
        registrations = await build(runtime)
        server = grpc.aio.server(
            interceptors=[
                ServiceInterceptor(
                    settings.service_name,
                    runtime.tokens,
                    settings.rpc_timeout_seconds,
                    settings.rpc_log_sample,
                ),
            ],
            options=[("grpc.max_receive_message_length", 4 * 1024 * 1024)],
        )
        names = []
        for reg in registrations:
            reg.add_to_server(reg.servicer, server)
            names.append(reg.full_name)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            server,
        )
        address = f"{settings.bind_host}:{settings.grpc_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:  # grpc's "Failed to bind": the port is taken or the host is not ours
            port = 0
        if port == 0:
            raise ConfigError(
                f"SHOP_GRPC_PORT: cannot listen on {address} (in use, or not an address of this host)"
            )
        await server.start()
    except BaseException:
        await stack.aclose()
        raise
    running = RunningService(server, port, runtime, health_servicer, names)
    await running.check_dependencies()
    running.start_watching()
    log.info("serving", extra={"port": port, "services": names})
    return running


def run(service_name: str, build: Build, settings_class: type[SettingsT] = ServiceSettings) -> None:  # type: ignore[assignment]
    """The whole `__main__` of a service: read config, start, serve until SIGTERM/SIGINT.

    A bad setting (or a database it names that cannot be reached) stops the process with one line
    naming the setting and a non-zero status; unknown `SHOP_*` variables are logged."""
    try:
        _run(service_name, build, settings_class)
    except ConfigError as exc:
        raise ConfigError(f"{service_name}: {exc.code}") from None


def _run(service_name: str, build: Build, settings_class: type[SettingsT]) -> None:
    # The data folder's files (SQLite, uploads, logs) are for this user's eyes only.
    os.umask(0o077)
    settings = load(settings_class, service_name=service_name)
    logs.configure(service_name, settings.log_level, settings.log_format)
    setting_names.report_unknown(os.environ, log)
    telemetry.configure_tracing(service_name)

    async def main() -> None:
        running = await start(settings, build)
        try:
            telemetry.serve_metrics(settings.bind_host, settings.metrics_port)
        except OSError as exc:
            where = f"{settings.bind_host}:{settings.metrics_port}"
            raise ConfigError(f"SHOP_METRICS_PORT: cannot listen on {where}: {exc.strerror}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("draining", extra={"grace_seconds": settings.drain_seconds})
        await running.stop()
        telemetry.shutdown_tracing()
        log.info("stopped")

    asyncio.run(main())
