"""/api/auth/session: browser sign-in with httpOnly cookies instead of a token the page keeps
(gateway/sessions.py says which cookies and how CSRF is refused); /api/auth/sessions and
/api/admin/users/{user_id}/sessions end sessions. The auth service keeps the sessions.

Signing in also moves the guest cart (the `shop_guest` cookie) into the account's cart.
"""

from __future__ import annotations

import logging

import grpc
from aiohttp import web
from pydantic import BaseModel, Field

from gateway import sessions
from gateway.auth import Caller
from gateway.errors import ApiError, UpstreamError
from gateway.models import Message
from gateway.routes.auth import Credentials, throttled_sign_in
from gateway.routing import Ctx, Route
from gateway.sessions import GUEST_COOKIE, RENEWAL_COOKIE, SESSION_COOKIE
from shop.auth.v1 import auth_pb2
from shop.cart.v1 import cart_pb2

log = logging.getLogger("shop.gateway.sessions")

NO_SESSION = "No browser session: sign in again"


class SessionInfo(BaseModel):
    user_id: int
    email: str
    role: str = Field(description="customer or admin")
    csrf_token: str = Field(description=f"Send it as {sessions.CSRF_HEADER} on every state change")


class SessionsEnded(BaseModel):
    ended: int


def _info(user: auth_pb2.User, csrf_token: str) -> SessionInfo:
    role = "admin" if user.role == auth_pb2.ROLE_ADMIN else "customer"
    return SessionInfo(user_id=user.id, email=user.email, role=role, csrf_token=csrf_token)


def _keep(ctx: Ctx, session: auth_pb2.Session) -> None:
    """Sets the session's cookies on the answer."""
    request, policy = ctx.request, sessions.policy_of(ctx.request)
    access_age = sessions.seconds_until(session.access_expire_time.seconds)
    renewal_age = sessions.seconds_until(session.renewal_expire_time.seconds)

    def finish(response: web.StreamResponse) -> None:
        policy.set(response, request, SESSION_COOKIE, session.access_token, access_age)
        policy.set(response, request, RENEWAL_COOKIE, session.renewal_token, renewal_age)

    ctx.finish.append(finish)


def _forget(ctx: Ctx, *names: str) -> None:
    """Clears these cookies on the answer."""
    request, policy = ctx.request, sessions.policy_of(ctx.request)

    def finish(response: web.StreamResponse) -> None:
        for name in names:
            policy.clear(response, request, name)

    ctx.finish.append(finish)


async def _merge_guest_cart(ctx: Ctx, user_id: int) -> None:
    """The guest's cart joins the account's; a failure leaves it for the next sign-in."""
    guest = sessions.policy_of(ctx.request).read(ctx.request, GUEST_COOKIE)
    if not guest:
        return
    try:
        await ctx.upstreams.cart.MergeCart(
            cart_pb2.MergeCartRequest(guest_id=guest, user_id=user_id), metadata=await ctx.gateway_metadata()
        )
    except UpstreamError as exc:
        if exc.code != grpc.StatusCode.INVALID_ARGUMENT:  # a malformed cookie: drop it
            log.warning("guest cart not merged", extra={"code": exc.code.name, "user_id": user_id})
            return
    _forget(ctx, GUEST_COOKIE)


async def _end_replaced_session(ctx: Ctx) -> None:
    """Signing in again in the same browser: the session whose cookies are replaced ends too."""
    renewal = sessions.policy_of(ctx.request).read(ctx.request, RENEWAL_COOKIE)
    if not renewal:
        return
    try:
        await ctx.upstreams.auth.EndSession(
            auth_pb2.EndSessionRequest(renewal_token=renewal), metadata=ctx.metadata
        )
    except UpstreamError as exc:
        log.warning("replaced session not ended", extra={"code": exc.code.name})


async def create_session(ctx: Ctx) -> SessionInfo:
    sessions.require_same_origin(ctx.request)
    body = ctx.body(Credentials)
    reply = await throttled_sign_in(
        ctx,
        body.email,
        lambda: ctx.upstreams.auth.CreateSession(
            auth_pb2.CreateSessionRequest(email=body.email, password=body.password), metadata=ctx.metadata
        ),
    )
    await _end_replaced_session(ctx)
    _keep(ctx, reply.session)
    await _merge_guest_cart(ctx, reply.session.user.id)
    return _info(reply.session.user, reply.session.csrf_token)


def _session_caller(ctx: Ctx) -> tuple[Caller, str]:
    """The caller and the CSRF token of its session (401 for a token of no session)."""
    csrf = sessions.claims_of(ctx.user.token).get("csrf")
    if not isinstance(csrf, str) or not csrf:
        raise ApiError(401, NO_SESSION)
    return ctx.user, csrf


async def get_session(ctx: Ctx) -> SessionInfo:
    _, csrf = _session_caller(ctx)
    reply = await ctx.upstreams.auth.GetMe(auth_pb2.GetMeRequest(), metadata=ctx.metadata)
    return _info(reply.user, csrf)


async def renew_session(ctx: Ctx) -> SessionInfo:
    sessions.require_same_origin(ctx.request)
    renewal = sessions.policy_of(ctx.request).read(ctx.request, RENEWAL_COOKIE)
    if not renewal:
        raise ApiError(401, NO_SESSION)
    try:
        reply = await ctx.upstreams.auth.RenewSession(
            auth_pb2.RenewSessionRequest(renewal_token=renewal), metadata=ctx.metadata
        )
    except UpstreamError as exc:
        if exc.code == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiError(401, NO_SESSION) from exc
        raise
    _keep(ctx, reply.session)
    return _info(reply.session.user, reply.session.csrf_token)


async def end_session(ctx: Ctx) -> Message:
    """Sign-out: ends the session whether its access token still works or only its renewal token,
    and always clears the cookies."""
    sessions.require_same_origin(ctx.request)
    policy = sessions.policy_of(ctx.request)
    access = policy.read(ctx.request, SESSION_COOKIE)
    renewal = policy.read(ctx.request, RENEWAL_COOKIE)
    try:
        if renewal:
            await ctx.upstreams.auth.EndSession(
                auth_pb2.EndSessionRequest(renewal_token=renewal), metadata=ctx.metadata
            )
        elif access:
            metadata = (*ctx.metadata, ("authorization", f"Bearer {access}"))
            await ctx.upstreams.auth.EndSession(auth_pb2.EndSessionRequest(), metadata=metadata)
    except UpstreamError as exc:
        if exc.code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
            raise  # auth is down: the session lives on, so say so
    _forget(ctx, SESSION_COOKIE, RENEWAL_COOKIE)
    return Message(message="Signed out")


async def end_other_sessions(ctx: Ctx) -> SessionsEnded:
    reply = await ctx.upstreams.auth.EndUserSessions(auth_pb2.EndUserSessionsRequest(), metadata=ctx.metadata)
    return SessionsEnded(ended=reply.ended)


async def end_user_sessions(ctx: Ctx) -> SessionsEnded:
    reply = await ctx.upstreams.auth.EndUserSessions(
        auth_pb2.EndUserSessionsRequest(user_id=ctx.id("user_id")), metadata=ctx.metadata
    )
    return SessionsEnded(ended=reply.ended)


TAGS = ("sessions",)
ROUTES = [
    Route(
        "POST",
        "/auth/session/",
        create_session,
        "Sign a browser in: session cookies (httpOnly) and the CSRF token; merges the guest cart",
        TAGS,
        request=Credentials,
        response=SessionInfo,
        status=201,
        errors=(401, 403, 429),
    ),
    Route(
        "GET",
        "/auth/session/",
        get_session,
        "The browser session's user and CSRF token (after a reload)",
        TAGS,
        auth="user",
        response=SessionInfo,
    ),
    Route(
        "POST",
        "/auth/session/refresh",
        renew_session,
        "Renew the session with its renewal cookie (rotated; a reused one ends the session)",
        TAGS,
        response=SessionInfo,
        errors=(401, 403, 409),
    ),
    Route(
        "DELETE",
        "/auth/session/",
        end_session,
        "Sign the browser out: ends its session and clears the cookies",
        TAGS,
        response=Message,
        errors=(403,),
    ),
    Route(
        "POST",
        "/auth/sessions/end-others",
        end_other_sessions,
        "Sign out everywhere else: ends the user's other browser sessions",
        TAGS,
        auth="user",
        response=SessionsEnded,
        errors=(403,),
    ),
    Route(
        "DELETE",
        "/admin/users/{user_id}/sessions",
        end_user_sessions,
        "End all browser sessions of a user (admin)",
        ("admin",),
        auth="admin",
        response=SessionsEnded,
    ),
]
