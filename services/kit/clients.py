"""Typed clients for calling other services.

`Channels` keeps one channel per target for the life of the process. Every call made through
it gets a deadline (the caller's remaining deadline, capped by the default), W3C trace context,
and the current caller's bearer token unless the call passes its own `authorization` metadata
(for example a service token from `ServiceToken`), and is counted and timed by outcome in the
client-side RPC metrics (`shop_rpc_client_*`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.kit import deadlines, principal
from services.kit.config import CommonSettings
from services.kit.telemetry import RPC_CLIENT_DURATION, RPC_CLIENT_REQUESTS

StubT = TypeVar("StubT")

Metadata = Sequence[tuple[str, str]]


# Reconnect quickly after a service comes back instead of backing off for up to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),
]


class _CallDefaults(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, default_timeout: float, caller: str, target: str) -> None:
        self._default_timeout = default_timeout
        self._caller = caller
        self._target = target

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        if "authorization" not in metadata:
            caller = principal.current()
            if caller is not None:
                metadata.add("authorization", f"Bearer {caller.token}")
        timeout = client_call_details.timeout
        if timeout is None:
            timeout = deadlines.remaining(self._default_timeout)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        started = time.perf_counter()
        call = await continuation(details, request)
        code = grpc.StatusCode.OK
        try:
            # Waiting here for the outcome the caller is about to await anyway; the call keeps it.
            await call
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            method = client_call_details.method
            short = (method.decode() if isinstance(method, bytes) else method).rsplit("/", 1)[-1]
            labels = (self._caller, self._target, short, code.name)
            RPC_CLIENT_REQUESTS.labels(*labels).inc()
            RPC_CLIENT_DURATION.labels(*labels).observe(time.perf_counter() - started)
        return call


class Channels:
    """One insecure channel per service address (mTLS belongs to the mesh in a cluster)."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        # The gateway's settings name no service.
        self._caller: str = getattr(settings, "service_name", "gateway")
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.aio.insecure_channel(
                self._settings.address_of(service),
                interceptors=[
                    *aio_client_interceptors(),  # type: ignore[no-untyped-call]
                    _CallDefaults(self._settings.rpc_timeout_seconds, self._caller, service),
                ],
                options=CHANNEL_OPTIONS,
            )
        return self._channels[service]

    def stub(self, stub_class: Callable[[grpc.aio.Channel], StubT], service: str) -> StubT:
        return stub_class(self.channel(service))

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        await asyncio.gather(*(c.close() for c in channels.values()))


Issuer = Callable[[], Awaitable[tuple[str, float]]]


class ServiceToken:
    """This service's own token from the auth service, refreshed a minute before it expires."""

    def __init__(self, issue: Issuer, refresh_margin_seconds: float = 60.0) -> None:
        self._issue = issue
        self._margin = refresh_margin_seconds
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> Metadata:
        if time.time() > self._expires_at - self._margin:
            async with self._lock:
                if time.time() > self._expires_at - self._margin:
                    self._token, self._expires_at = await self._issue()
        return (("authorization", f"Bearer {self._token}"),)


def service_token_issuer(
    auth_stub: Any, service_name: str, secret: str
) -> Callable[[], Awaitable[tuple[str, float]]]:
    """How a process gets its own token from the auth service (`auth_stub`: an AuthServiceStub)."""
    from shop.auth.v1 import auth_pb2

    async def issue() -> tuple[str, float]:
        # An explicit empty authorization: this call must never carry an end user's token.
        reply = await auth_stub.IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(service_name=service_name, service_secret=secret),
            metadata=(("authorization", ""),),
        )
        token: str = reply.token
        return token, float(reply.expire_time.ToSeconds())

    return issue
