"""/api/auth: register, log in, who am I, log out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from pydantic import BaseModel, Field

from gateway.errors import UpstreamError
from gateway.models import Message, RequestBody
from gateway.routing import Ctx, Route
from gateway.throttle import THROTTLE, Throttle
from shop.auth.v1 import auth_pb2

T = TypeVar("T")

# Auth's rules, stated in the document (auth checks them itself too).
MIN_PASSWORD, MAX_PASSWORD = 8, 128

# A local part and a dotted domain of visible ASCII (auth also takes other visible characters).
EMAIL_PATTERN = r"^[!-?A-~]+@[!-\-/-?A-~]+(\.[!-\-/-?A-~]+)+$"


class Credentials(RequestBody):
    email: str = Field(min_length=1, max_length=320, examples=["user@example.com"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])


class NewAccount(RequestBody):
    """What auth accepts: an address with a dotted domain (no spaces or invisible characters), and a
    password of 8-128 characters that zxcvbn does not guess in under 10,000 tries."""

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254, examples=["user@example.com"])
    password: str = Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        examples=["correct horse battery"],
        description="8-128 characters; common, leaked or pattern passwords (12345678, password) are refused",
    )


class Registered(BaseModel):
    user_id: int
    message: str


class LoggedIn(BaseModel):
    token: str


class Me(BaseModel):
    user_id: int
    email: str


def _throttle(ctx: Ctx) -> tuple[Throttle | None, str]:
    throttle = ctx.request.app.get(THROTTLE)
    return throttle, throttle.client_of(ctx.request) if throttle else ""


async def throttled_sign_in(ctx: Ctx, email: str, sign_in: Callable[[], Awaitable[T]]) -> T:
    """The sign-in's reply, through the login throttle when there is one: refused up front after
    too many failures for the client or the email, a wrong password counted, a success clearing."""
    throttle, client = _throttle(ctx)
    if throttle:
        await throttle.before_login(client, email)
    try:
        reply = await sign_in()
    except UpstreamError as exc:
        if throttle and exc.code == grpc.StatusCode.UNAUTHENTICATED:
            await throttle.login_failed(client, email)
        raise
    if throttle:
        await throttle.login_succeeded(client, email)
    return reply


async def register(ctx: Ctx) -> Registered:
    body = ctx.body(NewAccount)
    throttle, client = _throttle(ctx)
    if throttle:
        await throttle.before_registration(client)
    reply = await ctx.upstreams.auth.Register(
        auth_pb2.RegisterRequest(email=body.email, password=body.password), metadata=ctx.metadata
    )
    return Registered(user_id=reply.user.id, message="User registered")


async def login(ctx: Ctx) -> LoggedIn:
    body = ctx.body(Credentials)
    reply = await throttled_sign_in(
        ctx,
        body.email,
        lambda: ctx.upstreams.auth.Login(
            auth_pb2.LoginRequest(email=body.email, password=body.password), metadata=ctx.metadata
        ),
    )
    return LoggedIn(token=reply.token)


async def me(ctx: Ctx) -> Me:
    reply = await ctx.upstreams.auth.GetMe(auth_pb2.GetMeRequest(), metadata=ctx.metadata)
    return Me(user_id=reply.user.id, email=reply.user.email)


async def logout(ctx: Ctx) -> Message:
    await ctx.upstreams.auth.Logout(auth_pb2.LogoutRequest(), metadata=ctx.metadata)
    return Message(message="Logged out")


TAGS = ("auth",)
ROUTES = [
    Route(
        "POST",
        "/auth/register/",
        register,
        "Register a new user",
        TAGS,
        request=NewAccount,
        response=Registered,
        status=201,
        errors=(409, 429),
    ),
    Route(
        "POST",
        "/auth/login/",
        login,
        "Log in and receive a bearer token",
        TAGS,
        request=Credentials,
        response=LoggedIn,
        errors=(401, 429),
    ),
    Route("GET", "/auth/me/", me, "The signed-in user", TAGS, auth="user", response=Me),
    Route("POST", "/auth/logout/", logout, "Revoke the bearer token", TAGS, auth="user", response=Message),
]
