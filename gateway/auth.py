"""Who is calling: the bearer token of a request, checked by the auth service on every request.

A request without an Authorization header may instead carry a browser session's access token in
its session cookie (gateway/sessions.py); a state change made that way must pass the CSRF checks.

The gateway asks auth's VerifyToken each time (not just the signature), so a logout takes effect
at once. The token then travels to the domain services as `authorization` metadata; they check
it again and enforce their own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import grpc
from aiohttp import web

from gateway import sessions
from gateway.errors import ApiError, UpstreamError
from gateway.upstream import Upstreams
from shop.auth.v1 import auth_pb2

Access = Literal["public", "user", "admin"]

AUTHENTICATION_REQUIRED = "Authentication required"
INVALID_TOKEN = "Invalid or expired token"
ADMIN_REQUIRED = "Admin role required"

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    user_id: int
    is_admin: bool
    token: str


def bearer_token(request: web.Request) -> str:
    """The token of `Authorization: Bearer <token>`; 401 when missing or not a bearer token."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise ApiError(401, AUTHENTICATION_REQUIRED, _CHALLENGE)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, INVALID_TOKEN, _CHALLENGE)
    return token


async def authenticate(request: web.Request, upstreams: Upstreams, access: Access) -> Caller | None:
    """The verified caller for a "user" or "admin" route (None for a public one)."""
    if access == "public":
        return None
    cookie = None if "Authorization" in request.headers else sessions.session_token(request)
    token = cookie or bearer_token(request)
    try:
        # No authorization metadata: the token to check is the request itself.
        reply = await upstreams.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
    except UpstreamError as exc:
        if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
            raise ApiError(401, INVALID_TOKEN, _CHALLENGE) from exc
        raise
    subject: str = reply.subject
    if reply.role not in (auth_pb2.ROLE_CUSTOMER, auth_pb2.ROLE_ADMIN) or not subject.isdigit():
        # Service tokens are for internal callers; the public API only knows users.
        raise ApiError(401, INVALID_TOKEN, _CHALLENGE)
    caller = Caller(user_id=int(subject), is_admin=reply.role == auth_pb2.ROLE_ADMIN, token=token)
    if cookie:
        sessions.require_csrf(request, token)
    if access == "admin" and not caller.is_admin:
        raise ApiError(403, ADMIN_REQUIRED)
    return caller
