"""The server interceptor every service gets: caller identity (signature and revocation),
deadline, error mapping, one structured log line and RED metrics per RPC. OpenTelemetry's own
interceptor runs outside this one, so the log line carries the span's trace id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from services.kit import deadlines, principal
from services.kit.errors import DomainError
from services.kit.revocation import TokenChecker
from services.kit.telemetry import RPC_DURATION, RPC_REQUESTS

log = logging.getLogger("shop.rpc")

# Infrastructure RPCs: no identity needed, not worth a log line each.
_QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
_UNAVAILABLE_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _bearer(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else value
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, service_name: str, tokens: TokenChecker, default_timeout: float) -> None:
        self._service = service_name
        self._tokens = tokens
        self._default_timeout = default_timeout

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith(_QUIET_PREFIXES):
            return handler
        wrapped = self._wrap(method, handler.unary_unary)
        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, method: str, inner: Handler) -> Handler:
        short = method.rsplit("/", 1)[-1]

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            detail = ""
            caller = "-"
            principal_token = None
            remaining = context.time_remaining()
            budget = self._default_timeout if remaining is None else min(remaining, 3600.0)
            deadline_token = deadlines.set_deadline(time.monotonic() + budget)
            try:
                bearer = _bearer(context)
                who = await self._tokens.check(bearer) if bearer else None
                caller = who.subject if who else "anonymous"
                principal_token = principal.set_current(who)
                async with asyncio.timeout(budget):
                    return await inner(request, context)
            except DomainError as exc:
                code, detail = exc.status, exc.message
                context.set_trailing_metadata((("shop-error-code", exc.code.name),))
            except TimeoutError:
                code, detail = grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
            except grpc.aio.AioRpcError as exc:
                # A downstream service failed in a way the servicer did not handle: pass on the
                # kind of failure, not the other service's details.
                code = exc.code()
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    detail = "a service this one depends on is unavailable"
                else:
                    code, detail = grpc.StatusCode.INTERNAL, "internal error"
                    log.exception("unhandled downstream error", extra={"method": method})
            except _UNAVAILABLE_ERRORS as exc:
                code, detail = grpc.StatusCode.UNAVAILABLE, "storage unavailable"
                log.warning("storage unavailable", extra={"method": method, "error": str(exc)})
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    # The connection died under the call (server restarted, backend terminated):
                    # the pool replaces it, and the caller may try again.
                    code, detail = grpc.StatusCode.UNAVAILABLE, "storage unavailable"
                    log.warning("storage connection lost", extra={"method": method, "error": str(exc.orig)})
                else:
                    code, detail = grpc.StatusCode.INTERNAL, "internal error"
                    log.exception("database error", extra={"method": method})
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code, detail = grpc.StatusCode.INTERNAL, "internal error"
                log.exception("unhandled error", extra={"method": method})
            finally:
                elapsed = time.perf_counter() - started
                if principal_token is not None:
                    principal.reset_current(principal_token)
                deadlines.reset_deadline(deadline_token)
                RPC_REQUESTS.labels(self._service, short, code.name).inc()
                RPC_DURATION.labels(self._service, short, code.name).observe(elapsed)
                log.info(
                    "rpc",
                    extra={
                        "method": method,
                        "code": code.name,
                        "ms": round(elapsed * 1000, 2),
                        "caller": caller,
                        **({"detail": detail} if detail else {}),
                    },
                )
            await context.abort(code, detail)

        return handle
