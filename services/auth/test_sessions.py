"""Browser sessions through real gRPC: rotation, reuse detection, sign-out, sign-out everywhere,
an admin ending them, account deletion; each access token checked by another service's checker
(the gateway's VerifyToken) as any service would."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from uuid import uuid4

import grpc
import pytest

from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.support.harness import Platform
from tests.support.tokens import bearer

AuthStub = auth_pb2_grpc.AuthServiceStub
PASSWORD = "correct horse battery"


@pytest.fixture
async def auth(platform: Platform) -> AuthStub:
    await platform.start("auth")
    return platform.stub(AuthStub, "auth")


async def _code(call: Awaitable[Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    code: grpc.StatusCode = err.value.code()
    return code


async def _account(auth: AuthStub) -> str:
    email = f"session-{uuid4().hex[:12]}@shop.test"
    await auth.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    return email


async def _session(auth: AuthStub, email: str) -> auth_pb2.Session:
    reply = await auth.CreateSession(auth_pb2.CreateSessionRequest(email=email, password=PASSWORD))
    session: auth_pb2.Session = reply.session
    return session


async def _valid(auth: AuthStub, token: str) -> bool:
    try:
        await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise
        return False
    return True


async def _renew(auth: AuthStub, renewal_token: str) -> auth_pb2.Session:
    reply = await auth.RenewSession(auth_pb2.RenewSessionRequest(renewal_token=renewal_token))
    session: auth_pb2.Session = reply.session
    return session


async def test_a_session_needs_the_password_and_gives_a_working_access_token(auth: AuthStub) -> None:
    email = await _account(auth)
    wrong = auth.CreateSession(auth_pb2.CreateSessionRequest(email=email, password="not the password"))
    assert await _code(wrong) == grpc.StatusCode.UNAUTHENTICATED
    session = await _session(auth, email)
    assert session.user.email == email
    assert all((session.csrf_token, session.renewal_token, session.session_id))
    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(session.access_token))
    assert me.user.email == email


async def test_renewal_rotates_both_tokens_and_revokes_the_replaced_access_token(auth: AuthStub) -> None:
    first = await _session(auth, await _account(auth))
    second = await _renew(auth, first.renewal_token)
    assert second.renewal_token != first.renewal_token
    assert second.access_token != first.access_token
    assert (second.session_id, second.csrf_token) == (first.session_id, first.csrf_token)
    assert await _valid(auth, second.access_token)
    assert not await _valid(auth, first.access_token)
    # A shopper keeps renewing for days: each new renewal token works once more.
    third = await _renew(auth, second.renewal_token)
    assert await _valid(auth, third.access_token)


async def test_a_replaced_renewal_token_presented_again_ends_the_whole_session(auth: AuthStub) -> None:
    first = await _session(auth, await _account(auth))
    second = await _renew(auth, first.renewal_token)
    # Within the grace period the first token is a concurrent renewal: told to retry, nothing ends.
    assert await _code(_renew(auth, first.renewal_token)) == grpc.StatusCode.ABORTED
    assert await _valid(auth, second.access_token)
    third = await _renew(auth, second.renewal_token)
    # `first` is now two renewals old: a copy. The thief and the owner both lose the session.
    assert await _code(_renew(auth, first.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED
    assert not await _valid(auth, third.access_token)
    assert await _code(_renew(auth, third.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED


async def test_signing_out_ends_the_session_by_access_or_renewal_token(auth: AuthStub) -> None:
    email = await _account(auth)
    one, two = await _session(auth, email), await _session(auth, email)
    await auth.EndSession(auth_pb2.EndSessionRequest(), metadata=bearer(one.access_token))
    assert not await _valid(auth, one.access_token)
    assert await _code(_renew(auth, one.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED
    # With the access token expired, the renewal token alone signs out.
    await auth.EndSession(auth_pb2.EndSessionRequest(renewal_token=two.renewal_token))
    assert not await _valid(auth, two.access_token)
    assert await _code(_renew(auth, two.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED
    # A plain API token belongs to no session.
    login = await auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    no_session = auth.EndSession(auth_pb2.EndSessionRequest(), metadata=bearer(login.token))
    assert await _code(no_session) == grpc.StatusCode.INVALID_ARGUMENT


async def test_sign_out_everywhere_ends_the_other_sessions_and_keeps_this_one(auth: AuthStub) -> None:
    email = await _account(auth)
    here, phone, laptop = [await _session(auth, email) for _ in range(3)]
    reply = await auth.EndUserSessions(auth_pb2.EndUserSessionsRequest(), metadata=bearer(here.access_token))
    assert reply.ended == 2
    assert await _valid(auth, here.access_token)
    for other in (phone, laptop):
        assert not await _valid(auth, other.access_token)
        assert await _code(_renew(auth, other.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _valid(auth, (await _renew(auth, here.renewal_token)).access_token)


async def test_an_admin_ends_a_users_sessions_and_a_customer_cannot(
    platform: Platform, auth: AuthStub
) -> None:
    env = platform.env()
    admin = await auth.Login(auth_pb2.LoginRequest(email=env["admin_email"], password=env["admin_password"]))
    email = await _account(auth)
    session = await _session(auth, email)
    someone = await _session(auth, await _account(auth))
    request = auth_pb2.EndUserSessionsRequest(user_id=session.user.id)
    refused = auth.EndUserSessions(request, metadata=bearer(someone.access_token))
    assert await _code(refused) == grpc.StatusCode.PERMISSION_DENIED
    assert await _valid(auth, session.access_token)
    reply = await auth.EndUserSessions(request, metadata=bearer(admin.token))
    assert reply.ended == 1
    assert not await _valid(auth, session.access_token)
    assert await _code(_renew(auth, session.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED


async def test_deleting_the_account_ends_its_sessions(auth: AuthStub) -> None:
    session = await _session(auth, await _account(auth))
    await auth.DeleteUser(auth_pb2.DeleteUserRequest(), metadata=bearer(session.access_token))
    assert not await _valid(auth, session.access_token)
    assert await _code(_renew(auth, session.renewal_token)) == grpc.StatusCode.UNAUTHENTICATED


async def test_malformed_renewal_tokens_are_refused_cleanly(auth: AuthStub) -> None:
    assert await _code(_renew(auth, "")) == grpc.StatusCode.UNAUTHENTICATED
    for token in ("no-dot", "a.b", "x" * 40 + "." + "y" * 40, "é" * 20 + "." + "z" * 40):
        assert await _code(_renew(auth, token)) == grpc.StatusCode.UNAUTHENTICATED
        await auth.EndSession(auth_pb2.EndSessionRequest(renewal_token=token))
