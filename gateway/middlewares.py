"""What every request goes through, outermost first:

1. `tracing`: an OpenTelemetry server span continuing the caller's W3C trace context. (The
   opentelemetry-instrumentation-aiohttp-server middleware only works after its instrumentor has
   patched `web.Application` globally and set module state, which does not fit an app factory.)
2. `observe`: the request id (X-Request-Id), one structured log line and the RED metrics.
3. `readable_headers`: 400 for a header that is not UTF-8, before anything reads it.
4. `cors`: the CORS headers for the configured origins, and preflight answers.
5. `errors`: turns every failure into `{"error": "..."}` with its status.

aiohttp's own protocol errors (a request it cannot parse) never get here: see gateway/server.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Collection
from typing import Final

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import MatchInfoError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from gateway.errors import INTERNAL_ERROR, ApiError, UpstreamError, from_rpc, json_error
from gateway.routing import CALLER, NEXT_PAGE_HEADER, REQUEST_ID, TEMPLATES

log = logging.getLogger("shop.http")

HTTP_REQUESTS = Counter(
    "shop_http_requests_total", "HTTP requests handled by the gateway", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "shop_http_request_duration_seconds",
    "HTTP request handling time in the gateway",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Span attribute names (OpenTelemetry HTTP semantic conventions), declared once.
ATTR_METHOD: Final = "http.request.method"
ATTR_ROUTE: Final = "http.route"
ATTR_STATUS: Final = "http.response.status_code"
ATTR_PATH: Final = "url.path"
ATTR_SCHEME: Final = "url.scheme"
ATTR_USER_AGENT: Final = "user_agent.original"
ATTR_REQUEST_ID: Final = "shop.request_id"

UNMATCHED_ROUTE = "unmatched"
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# nginx's "client closed request": the client went away before the answer.
CLIENT_CLOSED = 499

_tracer = trace.get_tracer("shop.gateway")


def route_template(request: web.Request) -> str:
    """The matched route's documented path ("/api/products/{id}"), with or without the slash."""
    info = request.match_info
    if isinstance(info, MatchInfoError) or info.route.resource is None:
        return UNMATCHED_ROUTE
    template: str = request.app[TEMPLATES].get(info.route.resource, UNMATCHED_ROUTE)
    return template


@web.middleware
async def tracing(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_template(request)
    attributes = {
        ATTR_METHOD: request.method,
        ATTR_ROUTE: route,
        ATTR_PATH: request.path,
        ATTR_SCHEME: request.scheme,
        ATTR_USER_AGENT: request.headers.get("User-Agent", ""),
    }
    with _tracer.start_as_current_span(
        f"{request.method} {route}",
        context=propagate.extract(request.headers),
        kind=SpanKind.SERVER,
        attributes=attributes,
    ) as span:
        response = await handler(request)
        span.set_attribute(ATTR_STATUS, response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response


def _request_id(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    trace.get_current_span().set_attribute(ATTR_REQUEST_ID, request_id)
    started = time.perf_counter()
    status = CLIENT_CLOSED
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = route_template(request)
        labels = (request.method, route, str(status))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_DURATION.labels(*labels).observe(elapsed)
        caller = request.get(CALLER)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "request_id": request_id,
                "user_id": caller.user_id if caller else None,
                "remote": request.remote,
            },
        )


@web.middleware
async def readable_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp keeps header bytes that are not UTF-8 as lone surrogates ("\udcff"), which no gRPC
    metadata, protobuf string or response header can carry: refuse them once, here, for every
    header, rather than in each place that reads one."""
    for name, value in request.headers.items():
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                safe_name = name if name.isascii() and name.isprintable() else "a header"
                return json_error(400, f"{safe_name} is not valid UTF-8")
    return await handler(request)


def cors(origins: Collection[str]) -> Middleware:
    """Allows the configured browser origins ("*" allows any) to call the API with a bearer token."""
    allowed = frozenset(origins)
    any_origin = "*" in allowed
    preflight_headers = {
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, X-Request-Id",
        "Access-Control-Max-Age": "600",
    }
    # Retry-After: a browser app can tell the person when to try again after a 429.
    exposed = f"{NEXT_PAGE_HEADER}, {REQUEST_ID_HEADER}, Retry-After"

    @web.middleware
    async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origin or not (any_origin or origin in allowed):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204, headers=preflight_headers)
        else:
            response = await handler(request)
            response.headers["Access-Control-Expose-Headers"] = exposed
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
        return response

    return cors_middleware


# aiohttp's own HTTP errors keep their reason phrase ("Not Found"), except where a plainer
# message helps the caller.
_HTTP_MESSAGES = {413: "Request body too large"}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, exc.headers)
    except UpstreamError as exc:
        error = from_rpc(exc.code, exc.details, exc.service, explained=exc.domain_code is not None)
        _log_upstream(request, error, exc.service, exc.code, exc.details)
        return json_error(error.status, error.message)
    except grpc.aio.AioRpcError as exc:
        # Not raised through the named stubs; mapped the same way.
        error = from_rpc(exc.code(), exc.details() or "", "upstream")
        _log_upstream(request, error, "upstream", exc.code(), exc.details() or "")
        return json_error(error.status, error.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_error(exc.status, _HTTP_MESSAGES.get(exc.status, exc.reason), headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return json_error(500, INTERNAL_ERROR)


def _log_upstream(
    request: web.Request, error: ApiError, service: str, code: grpc.StatusCode, details: str
) -> None:
    if error.status < 500:
        return
    extra = {"upstream": service, "code": code.name, "details": details, "path": request.path}
    if error.status == 500:
        log.error("upstream error", extra=extra)
    else:
        log.warning("upstream unavailable", extra=extra)
