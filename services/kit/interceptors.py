"""The server interceptor every service gets: caller identity (signature and revocation),
deadline, error mapping, the RPC's server span (continuing the caller's W3C trace context), one
structured log line and RED metrics per RPC. The log line is written inside the span, so it
carries the trace id; every line logged while serving the call carries the gateway request's id
(`x-request-id`, see logs.py).

It runs on every call, so it keeps per-call work small: the wrapped handler and the metric
children are made once per method, the invocation metadata is read once, and the log line is
formatted only when it is written (`rpc_log_sample` of the successful calls, every failed one).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from services.kit import database, deadlines, logs, principal
from services.kit.clients import unreachable
from services.kit.errors import DomainError
from services.kit.revocation import TokenChecker
from services.kit.telemetry import RPC_DURATION, RPC_REQUESTS

log = logging.getLogger("shop.rpc")
_tracer = trace.get_tracer("shop.kit.grpc")
# The gateway request's id on the server span, as the gateway puts it on its own.
REQUEST_ID_ATTRIBUTE = "shop.request_id"

# Infrastructure RPCs: no identity needed, not worth a log line each.
_QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
_UNAVAILABLE_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
_OK = grpc.StatusCode.OK

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata (authorization, traceparent, ...); the first value of a key wins."""
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str) and key not in found:
            found[key] = value
    return found


def _bearer(metadata: dict[str, str]) -> str | None:
    value = metadata.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self, service_name: str, tokens: TokenChecker, default_timeout: float, log_sample: float = 1.0
    ) -> None:
        self._service = service_name
        self._tokens = tokens
        self._default_timeout = default_timeout
        self._log_sample = log_sample
        self._handlers: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith(_QUIET_PREFIXES):
            return handler
        # The servicer's handlers are fixed once the server runs: wrap each method once.
        known = self._handlers.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._handlers[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, inner: Handler) -> Handler:
        service_part, _, short = method[1:].rpartition("/")
        span_name = method[1:]
        span_attributes = {"rpc.system": "grpc", "rpc.service": service_part, "rpc.method": short}
        by_code: dict[grpc.StatusCode, tuple[Any, Any]] = {}

        def record(code: grpc.StatusCode, elapsed: float) -> None:
            children = by_code.get(code)
            if children is None:
                labels = (self._service, short, code.name)
                children = by_code[code] = (RPC_REQUESTS.labels(*labels), RPC_DURATION.labels(*labels))
            children[0].inc()
            children[1].observe(elapsed)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            metadata = _metadata(context)
            outcome = _Outcome()
            request_token = logs.set_request_id(metadata.get(logs.REQUEST_ID_KEY, ""))
            request_id = logs.request_id()
            with _tracer.start_as_current_span(
                span_name,
                context=propagate.extract(metadata) if "traceparent" in metadata else None,
                kind=SpanKind.SERVER,
                attributes=span_attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                if request_id and span.is_recording():
                    span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
                try:
                    return await self._serve(method, inner, request, context, metadata, outcome)
                finally:
                    elapsed = time.perf_counter() - started
                    code = outcome.code
                    record(code, elapsed)
                    if span.is_recording():
                        span.set_attribute("rpc.grpc.status_code", code.value[0])
                        if code is not _OK:
                            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {outcome.detail}"))
                    if log.isEnabledFor(logging.INFO) and (
                        code is not _OK or self._log_sample >= 1.0 or random.random() < self._log_sample
                    ):
                        extra = {
                            "method": method,
                            "code": code.name,
                            "ms": round(elapsed * 1000, 2),
                            "caller": outcome.caller,
                        }
                        if outcome.detail:
                            extra["detail"] = outcome.detail
                        if request_id:
                            extra["request_id"] = request_id
                        log.info("rpc", extra=extra)
                    logs.reset_request_id(request_token)

        return handle

    # Complexity 12, on purpose: the one place every servicer's failures become statuses, one
    # `except` a kind of failure; split up, the order the handlers must be tried in would be lost.
    async def _serve(  # noqa: C901
        self,
        method: str,
        inner: Handler,
        request: Any,
        context: grpc.aio.ServicerContext,
        metadata: dict[str, str],
        outcome: _Outcome,
    ) -> Any:
        """Runs the servicer as the caller, within the deadline; a failure is noted in `outcome`
        and answered with its status."""
        principal_token = None
        remaining = context.time_remaining()
        budget = self._default_timeout if remaining is None else min(remaining, 3600.0)
        deadline_token = deadlines.set_deadline(time.monotonic() + budget)
        try:
            bearer = _bearer(metadata)
            who = await self._tokens.check(bearer) if bearer else None
            outcome.caller = who.subject if who else "anonymous"
            principal_token = principal.set_current(who)
            async with asyncio.timeout(budget):
                return await inner(request, context)
        except DomainError as exc:
            outcome.fail(exc.status, exc.message)
            context.set_trailing_metadata((("shop-error-code", exc.code.name),))
        except TimeoutError:
            outcome.fail(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        except grpc.aio.AioRpcError as exc:
            # A downstream service failed in a way the servicer did not handle: pass on the
            # kind of failure, not the other service's details.
            if unreachable(exc):
                outcome.fail(exc.code(), "a service this one depends on is unavailable")
            else:
                outcome.fail(grpc.StatusCode.INTERNAL, "internal error")
                log.exception("unhandled downstream error", extra={"method": method})
        except _UNAVAILABLE_ERRORS as exc:
            outcome.fail(grpc.StatusCode.UNAVAILABLE, "storage unavailable")
            log.warning("storage unavailable", extra={"method": method, "error": str(exc)})
        except DBAPIError as exc:
            if database.unavailable(exc):  # lost, refused or full: the pool starts afresh
                outcome.fail(grpc.StatusCode.UNAVAILABLE, "storage unavailable")
                log.warning("database unavailable", extra={"method": method, "error": str(exc)})
            else:
                outcome.fail(grpc.StatusCode.INTERNAL, "internal error")
                log.exception("database error", extra={"method": method})
        except grpc.aio.AbortError:
            outcome.code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except asyncio.CancelledError:
            outcome.code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            outcome.fail(grpc.StatusCode.INTERNAL, "internal error")
            log.exception("unhandled error", extra={"method": method})
        finally:
            if principal_token is not None:
                principal.reset_current(principal_token)
            deadlines.reset_deadline(deadline_token)
        await context.abort(outcome.code, outcome.detail)


class _Outcome:
    """How one call ended, for its metrics, span and log line."""

    __slots__ = ("caller", "code", "detail")

    def __init__(self) -> None:
        self.code = _OK
        self.detail = ""
        self.caller = "-"

    def fail(self, code: grpc.StatusCode, detail: str) -> None:
        self.code, self.detail = code, detail
