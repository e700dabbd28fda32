"""Every failure becomes `{"error": "..."}` with one HTTP status, decided here and only here.

gRPC statuses from the domain services are mapped once (`RPC_TO_HTTP`); HTTP-level failures
(unknown path, wrong method, bad body) raise `ApiError` or aiohttp's own HTTP exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import grpc
from aiohttp import web

INTERNAL_ERROR = "Internal Server Error"

RPC_TO_HTTP: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ApiError(Exception):
    """An HTTP error answered as `{"error": message}`."""

    def __init__(
        self, status: int, message: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.message = message or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.message}")


class UpstreamError(Exception):
    """A failed call to a domain service, with the name of the service that failed."""

    def __init__(self, service: str, error: grpc.aio.AioRpcError) -> None:
        self.service = service
        self.code: grpc.StatusCode = error.code()
        self.details: str = error.details() or ""
        # Set when the service itself answered with a domain error (see services/kit/errors.py),
        # as opposed to the call failing on the way (service down, connection refused).
        self.domain_code: str | None = dict(error.trailing_metadata() or ()).get("shop-error-code")
        super().__init__(f"{service}: {self.code.name}: {self.details}")


def from_rpc(code: grpc.StatusCode, details: str, service: str, explained: bool = False) -> ApiError:
    """The HTTP error for a gRPC status: the service's own message for 4xx, and for 503/504 when
    the service explained them itself ("payment service unavailable" from orders); a fixed one otherwise."""
    status = RPC_TO_HTTP.get(code, 500)
    if status in (503, 504) and explained and details:
        return ApiError(status, details)
    if status == 503:
        return ApiError(503, f"{service} service unavailable")
    if status == 504:
        return ApiError(504, f"{service} service timed out")
    if status >= 500:
        return ApiError(500, INTERNAL_ERROR)
    return ApiError(status, details or HTTPStatus(status).phrase)


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)
