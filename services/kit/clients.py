"""Typed clients for calling other services, and the rules every call to one follows.

`Channels` keeps one channel per target for the life of the process. Every call made through
it gets a deadline (the caller's remaining deadline, capped by the default), a client span with
W3C trace context, the id of the gateway request being served (`x-request-id`, for the log lines),
and the current caller's bearer token unless the call passes its own
`authorization` metadata (for example a service token from `ServiceToken`), and is counted and
timed by outcome in the client-side RPC metrics (`shop_rpc_client_*`).

How a failed call is read, in one place for every service and the gateway:

- `unreachable`: UNAVAILABLE or DEADLINE_EXCEEDED, the other service is down or out of time;
- `answered`: the other service said no on purpose (a domain error, which the kit's server
  interceptor marks with `shop-error-code` trailing metadata); otherwise the outcome is unknown
  and the request may or may not have taken effect;
- `once_more_if_unknown`: an idempotent change (per key or reference) is asked again once when
  its outcome is unknown, which settles it without risk of doing anything twice;
- reads (Get*, List*, BatchGet*, Search*, Check*, Quote*) refused with UNAVAILABLE before any
  answer are retried once by the channel itself, within the call's deadline and a retry budget
  (at most one retry per ten calls to that target, after a few to start with), so a restarted
  replica or a dropped connection costs a caller nothing while a service that is down is not
  hammered twice as hard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.kit import deadlines, logs, principal
from services.kit.config import CommonSettings
from services.kit.errors import CommonError, DomainError, ErrorCode
from services.kit.telemetry import RPC_CLIENT_DURATION, RPC_CLIENT_REQUESTS

StubT = TypeVar("StubT")
T = TypeVar("T")

Metadata = Sequence[tuple[str, str]]

_tracer = trace.get_tracer("shop.kit.grpc")

# Reconnect quickly after a service comes back instead of backing off for up to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),
]

UNREACHED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# A service that is not deployed yet answers like one that is down (UNIMPLEMENTED when something
# else listens on its address).
_ABSENT = UNREACHED | {grpc.StatusCode.UNIMPLEMENTED}
READ_PREFIXES = ("Get", "List", "BatchGet", "Search", "Check", "Quote")
# A retried read needs at least this much of its deadline left.
_RETRY_MIN_SECONDS = 0.05


def unreachable(failure: grpc.aio.AioRpcError | grpc.StatusCode) -> bool:
    """Unavailable or deadline exceeded: the other service is down, unreachable or out of time."""
    code = failure if isinstance(failure, grpc.StatusCode) else failure.code()
    return code in UNREACHED


def error_code(exc: grpc.aio.AioRpcError) -> str | None:
    """The domain error name the other service answered with, or None if it did not answer."""
    for key, value in exc.trailing_metadata() or ():
        if key == "shop-error-code":
            return str(value)
    return None


def answered(exc: grpc.aio.AioRpcError) -> bool:
    return error_code(exc) is not None


def transient(exc: grpc.aio.AioRpcError) -> bool:
    """Unreachable without an answer: asking again may settle it."""
    return not answered(exc) and unreachable(exc)


def absent(exc: grpc.aio.AioRpcError) -> bool:
    """The service did not answer at all (down, not deployed, out of time)."""
    return not answered(exc) and exc.code() in _ABSENT


def dependency_error(
    exc: grpc.aio.AioRpcError, message: str, kind: ErrorCode = CommonError.DEPENDENCY_UNAVAILABLE
) -> DomainError | None:
    """The caller's own UNAVAILABLE error (`kind`, `message`) when `exc` says the other service is
    unreachable; None for any other failure, which the caller handles or passes on."""
    return DomainError(kind, message) if unreachable(exc) else None


async def once_more_if_unknown(call: Callable[[], Awaitable[T]]) -> T:
    """Calls an idempotent RPC; if its outcome is unknown, asks again once to learn it."""
    try:
        return await call()
    except grpc.aio.AioRpcError as exc:
        if not transient(exc):
            raise
    return await call()


class RetryBudget:
    """Retries allowed to one target: every call earns `ratio` of a retry, up to `cap` saved."""

    def __init__(self, ratio: float = 0.1, cap: float = 10.0) -> None:
        self._ratio = ratio
        self._cap = cap
        self._balance = cap

    def earn(self) -> None:
        self._balance = min(self._cap, self._balance + self._ratio)

    def spend(self) -> bool:
        if self._balance < 1.0:
            return False
        self._balance -= 1.0
        return True


class _Method:
    """What the interceptor works out once per method: its short name, whether it is a read, and
    its metric children per outcome."""

    __slots__ = ("attributes", "by_code", "is_read", "labels", "span_name")

    def __init__(self, caller: str, target: str, method: str) -> None:
        service, _, short = method.lstrip("/").rpartition("/")
        self.span_name = method.lstrip("/")
        self.attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": short}
        self.is_read = short.startswith(READ_PREFIXES)
        self.labels = (caller, target, short)
        self.by_code: dict[grpc.StatusCode, tuple[Any, Any]] = {}

    def record(self, code: grpc.StatusCode, elapsed: float) -> None:
        children = self.by_code.get(code)
        if children is None:
            labels = (*self.labels, code.name)
            children = self.by_code[code] = (
                RPC_CLIENT_REQUESTS.labels(*labels),
                RPC_CLIENT_DURATION.labels(*labels),
            )
        children[0].inc()
        children[1].observe(elapsed)


class _CallDefaults(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, default_timeout: float, caller: str, target: str) -> None:
        self._default_timeout = default_timeout
        self._caller = caller
        self._target = target
        self._methods: dict[str, _Method] = {}
        self.budget = RetryBudget()

    def _method(self, name: str | bytes) -> _Method:
        key = name.decode() if isinstance(name, bytes) else name
        found = self._methods.get(key)
        if found is None:
            found = self._methods[key] = _Method(self._caller, self._target, key)
        return found

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        about = self._method(client_call_details.method)
        metadata = list(client_call_details.metadata or ())
        if not any(key == "authorization" for key, _ in metadata):
            caller = principal.current()
            if caller is not None:
                metadata.append(("authorization", f"Bearer {caller.token}"))
        request_id = logs.request_id()
        if request_id and not any(key == logs.REQUEST_ID_KEY for key, _ in metadata):
            metadata.append((logs.REQUEST_ID_KEY, request_id))
        timeout = client_call_details.timeout
        if timeout is None:
            timeout = deadlines.remaining(self._default_timeout)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with _tracer.start_as_current_span(
            about.span_name,
            kind=SpanKind.CLIENT,
            attributes=about.attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            metadata.extend(carrier.items())
            details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                timeout,
                grpc.aio.Metadata(*metadata),
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
            self.budget.earn()
            try:
                call = await continuation(details, request)
                try:
                    # Waiting here for the outcome the caller is about to await anyway; the call keeps it.
                    await call
                except grpc.aio.AioRpcError as exc:
                    left = timeout - (time.perf_counter() - started)
                    if (
                        about.is_read
                        and exc.code() == grpc.StatusCode.UNAVAILABLE
                        and not answered(exc)
                        and left > _RETRY_MIN_SECONDS
                        and self.budget.spend()
                    ):
                        retry = grpc.aio.ClientCallDetails(
                            details.method,
                            left,
                            details.metadata,
                            details.credentials,
                            details.wait_for_ready,
                        )
                        call = await continuation(retry, request)
                        await call
                    else:
                        code = exc.code()
            except grpc.aio.AioRpcError as exc:
                code = exc.code()  # the retry failed too
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                about.record(code, time.perf_counter() - started)
                if code is not grpc.StatusCode.OK and span.is_recording():
                    span.set_status(Status(StatusCode.ERROR, code.name))
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
