"""The auth service through real gRPC: accounts, tokens, revocation, admin RPCs, the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth import domain
from services.auth.service import Settings, build
from services.kit.config import ConfigError
from services.kit.errors import DomainError
from services.kit.principal import AUDIENCE, ISSUER, Role, TokenVerifier
from services.kit.server import Runtime, start
from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory, bearer

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"

AuthStub = auth_pb2_grpc.AuthServiceStub


@pytest.fixture
async def auth(platform: Platform) -> AuthStub:
    await platform.start("auth")
    return platform.stub(AuthStub, "auth")


def _admin(platform: Platform) -> tuple[str, str]:
    env = platform.env()
    return str(env["admin_email"]), str(env["admin_password"])


def _email() -> str:
    return f"user-{uuid4().hex[:16]}@shop.test"


async def _status(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def _register(auth: AuthStub, email: str | None = None, password: str = PASSWORD) -> auth_pb2.User:
    reply = await auth.Register(auth_pb2.RegisterRequest(email=email or _email(), password=password))
    user: auth_pb2.User = reply.user
    return user


async def _login(auth: AuthStub, email: str, password: str = PASSWORD) -> str:
    reply = await auth.Login(auth_pb2.LoginRequest(email=email, password=password))
    token: str = reply.token
    return token


async def _customer(auth: AuthStub) -> tuple[auth_pb2.User, str]:
    user = await _register(auth)
    return user, await _login(auth, user.email)


async def _restart(platform: Platform, **overrides: Any) -> None:
    await platform.stop("auth")
    await platform.start("auth", **overrides)
    # The test channel noticed the restart; let it reconnect before the next call.
    await asyncio.wait_for(platform.channel("auth").channel_ready(), timeout=10)


# --- accounts and sign-in ---------------------------------------------------------------------


async def test_register_login_me_round_trip(auth: AuthStub, platform: Platform) -> None:
    local = f"Mixed.Case-{uuid4().hex[:12]}"
    user = await _register(auth, f"  {local}@Shop.TEST ")
    assert user.id > 0
    assert user.email == f"{local.lower()}@shop.test"
    assert user.role == auth_pb2.ROLE_CUSTOMER
    assert user.create_time.seconds > 0

    reply = await auth.Login(auth_pb2.LoginRequest(email=f"{local.upper()}@shop.test", password=PASSWORD))
    assert abs(reply.expire_time.seconds - (time.time() + 3600)) < 30

    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(reply.token))
    assert (me.user.id, me.user.email, me.user.role) == (user.id, user.email, auth_pb2.ROLE_CUSTOMER)

    verified = await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=reply.token))
    assert (verified.subject, verified.role) == (str(user.id), auth_pb2.ROLE_CUSTOMER)
    assert verified.expire_time.seconds == reply.expire_time.seconds

    # Exactly the claims every other service's verifier checks.
    who = TokenVerifier(platform.keys.public_key.read_bytes()).verify(reply.token)
    assert (who.subject, who.role) == (str(user.id), Role.CUSTOMER)
    claims = jwt.decode(reply.token, options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "iat", "exp", "jti", "iss", "aud"}
    assert (claims["iss"], claims["aud"], len(claims["jti"])) == (ISSUER, AUDIENCE, 32)


async def test_duplicate_email_is_already_exists_case_insensitively(auth: AuthStub) -> None:
    email = _email()
    await _register(auth, email)
    err = await _status(auth.Register(auth_pb2.RegisterRequest(email=email.upper(), password="other-pass-1")))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == "email is already registered"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("", PASSWORD),
        ("no-at-sign.shop.test", PASSWORD),
        ("two@@shop.test", PASSWORD),
        ("a@b@shop.test", PASSWORD),
        ("@shop.test", PASSWORD),
        ("nodot@localhost", PASSWORD),
        ("dot@.shop", PASSWORD),
        ("dot@shop.", PASSWORD),
        ("sp ace@shop.test", PASSWORD),
        ("x" * 245 + "@shop.test", PASSWORD),
        (None, "short12"),
        (None, ""),
        (None, "x" * 129),
        # Control and invisible characters make lookalikes of real addresses.
        ("nul\x00@shop.test", PASSWORD),
        ("bell\x07@shop.test", PASSWORD),
        ("zero\u200bwidth@shop.test", PASSWORD),
        ("rtl\u202e@shop.test", PASSWORD),
    ],
)
async def test_bad_email_or_password_is_invalid_argument(
    auth: AuthStub, email: str | None, password: str
) -> None:
    request = auth_pb2.RegisterRequest(email=_email() if email is None else email, password=password)
    err = await _status(auth.Register(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_password_length_limits_are_inclusive(auth: AuthStub) -> None:
    for password in ("Kq7#vLp2", "Kq7#vLp2" + "y" * 120):
        user = await _register(auth, password=password)
        assert await _login(auth, user.email, password)


@pytest.mark.parametrize(
    "password",
    ["12345678", "password", " " * 8, "qwertyuiop", "p@ssw0rd", "iloveyou", "aaaaaaaaaaaa", "x" * 128],
)
async def test_common_and_guessable_passwords_are_refused(auth: AuthStub, password: str) -> None:
    err = await _status(auth.Register(auth_pb2.RegisterRequest(email=_email(), password=password)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too common" in (err.details() or "")


async def test_fullwidth_lookalike_email_is_the_same_account(auth: AuthStub) -> None:
    email = _email()
    await _register(auth, email)
    lookalike = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email.split("@")[0])
    twin = f"{lookalike}@{email.split('@')[1]}"
    err = await _status(auth.Register(auth_pb2.RegisterRequest(email=twin, password=PASSWORD)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await _login(auth, twin, PASSWORD)


async def test_wrong_password_and_unknown_email_look_the_same(auth: AuthStub) -> None:
    user = await _register(auth)
    wrong_password = await _status(auth.Login(auth_pb2.LoginRequest(email=user.email, password="not-it-123")))
    unknown_email = await _status(auth.Login(auth_pb2.LoginRequest(email=_email(), password=PASSWORD)))
    too_long = await _status(auth.Login(auth_pb2.LoginRequest(email=user.email, password="z" * 500)))
    for err in (wrong_password, unknown_email, too_long):
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "invalid email or password"
    err = await _status(auth.Login(auth_pb2.LoginRequest(email=user.email, password="")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_passwords_never_reach_logs_or_replies(
    auth: AuthStub, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"Secret-{uuid4().hex}"
    wrong = f"Wrong-{uuid4().hex}"
    email = _email()
    reply = await auth.Register(auth_pb2.RegisterRequest(email=email, password=secret))
    await _status(auth.Login(auth_pb2.LoginRequest(email=email, password=wrong)))
    await _status(auth.Register(auth_pb2.RegisterRequest(email=email, password=secret)))
    login = await auth.Login(auth_pb2.LoginRequest(email=email, password=secret))
    assert caplog.records, "the service logs were not captured"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for password in (secret, wrong):
        assert password not in logged
        assert password not in str(reply) + str(login)
    _, admin_password = _admin(platform)
    assert admin_password not in repr(platform.settings("auth"))


# --- tokens ------------------------------------------------------------------------------------


async def test_logout_revokes_only_that_token(auth: AuthStub) -> None:
    user, token = await _customer(auth)
    other = await _login(auth, user.email)
    await auth.Logout(auth_pb2.LogoutRequest(), metadata=bearer(token))

    err = await _status(auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(other))
    assert me.user.id == user.id


async def test_logout_needs_a_token(auth: AuthStub) -> None:
    err = await _status(auth.Logout(auth_pb2.LogoutRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("kind", ["expired", "foreign", "garbage", "empty"])
async def test_bad_tokens_are_unauthenticated(auth: AuthStub, tokens: TokenFactory, kind: str) -> None:
    user, _ = await _customer(auth)
    token = {
        "expired": tokens.expired(user.id),
        "foreign": tokens.foreign(user.id),
        "garbage": "not.a.jwt",
        "empty": "",
    }[kind]
    err = await _status(auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    if token:
        err = await _status(auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_get_me_needs_a_user_token(auth: AuthStub, tokens: TokenFactory) -> None:
    err = await _status(auth.GetMe(auth_pb2.GetMeRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(tokens.service("orders"))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_service_tokens(auth: AuthStub, platform: Platform) -> None:
    secret = platform.keys.service_secret.read_text().strip()
    reply = await auth.IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service_name="orders", service_secret=secret)
    )
    assert abs(reply.expire_time.seconds - (time.time() + 900)) < 30
    verified = await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=reply.token))
    assert (verified.subject, verified.role) == ("svc:orders", auth_pb2.ROLE_SERVICE)

    for wrong in ("", "wrong", secret + "x", "é" * 10):
        err = await _status(
            auth.IssueServiceToken(
                auth_pb2.IssueServiceTokenRequest(service_name="orders", service_secret=wrong)
            )
        )
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    for name in ("", "Orders", "9lives", "orders\n", "svc:orders", "a" * 42):
        err = await _status(
            auth.IssueServiceToken(
                auth_pb2.IssueServiceTokenRequest(service_name=name, service_secret=secret)
            )
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, name


async def test_the_kits_service_token_client_works(auth: AuthStub, platform: Platform) -> None:
    async with AsyncExitStack() as stack:
        runtime = Runtime(settings=platform.settings("catalog"), stack=stack)
        metadata = await runtime.service_token().metadata()
    token = dict(metadata)["authorization"].removeprefix("Bearer ")
    verified = await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
    assert (verified.subject, verified.role) == ("svc:catalog", auth_pb2.ROLE_SERVICE)


async def test_public_keys_match_the_platform_key(auth: AuthStub, platform: Platform) -> None:
    reply = await auth.GetPublicKeys(auth_pb2.GetPublicKeysRequest())
    [key] = reply.keys
    assert key.algorithm == "EdDSA"
    public = serialization.load_pem_public_key(platform.keys.public_key.read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.key_id == hashlib.sha256(der).hexdigest()[:16]
    assert key.pem.encode() == platform.keys.public_key.read_bytes()


# --- admin -------------------------------------------------------------------------------------


async def _admin_token(auth: AuthStub, platform: Platform) -> str:
    return await _login(auth, *_admin(platform))


async def test_admin_bootstrap_is_idempotent_and_keeps_passwords(auth: AuthStub, platform: Platform) -> None:
    admin_email, admin_password = _admin(platform)
    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(await _admin_token(auth, platform)))
    assert me.user.role == auth_pb2.ROLE_ADMIN
    customer = await _register(auth)
    try:
        # Restarting with another password for the same admin changes nothing.
        await _restart(platform, admin_password="another-password-456")
        await _login(auth, admin_email, admin_password)
        err = await _status(
            auth.Login(auth_pb2.LoginRequest(email=admin_email, password="another-password-456"))
        )
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        # An existing customer named as the admin is promoted, keeping their password.
        await _restart(platform, admin_email=customer.email.upper(), admin_password="ignored-password-1")
        token = await _login(auth, customer.email)
        me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token))
        assert (me.user.id, me.user.role) == (customer.id, auth_pb2.ROLE_ADMIN)
    finally:
        await _restart(platform)
    token = await _login(auth, admin_email, admin_password)
    listed = await auth.ListUsers(auth_pb2.ListUsersRequest(email=admin_email), metadata=bearer(token))
    assert [(u.email, u.role) for u in listed.users] == [(admin_email, auth_pb2.ROLE_ADMIN)]


async def test_customers_cannot_call_admin_rpcs(auth: AuthStub) -> None:
    me, token = await _customer(auth)
    other = await _register(auth)
    for call in (
        auth.GetUser(auth_pb2.GetUserRequest(id=other.id), metadata=bearer(token)),
        auth.ListUsers(auth_pb2.ListUsersRequest(), metadata=bearer(token)),
        auth.SetUserRole(
            auth_pb2.SetUserRoleRequest(id=me.id, role=auth_pb2.ROLE_ADMIN), metadata=bearer(token)
        ),
        auth.DeleteUser(auth_pb2.DeleteUserRequest(id=other.id), metadata=bearer(token)),
    ):
        assert (await _status(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    err = await _status(auth.ListUsers(auth_pb2.ListUsersRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_admin_gets_lists_and_sets_roles(auth: AuthStub, platform: Platform) -> None:
    admin = bearer(await _admin_token(auth, platform))
    users = [await _register(auth) for _ in range(5)]

    got = await auth.GetUser(auth_pb2.GetUserRequest(id=users[0].id), metadata=admin)
    assert got.user == users[0]
    err = await _status(auth.GetUser(auth_pb2.GetUserRequest(id=10**12), metadata=admin))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    seen: list[int] = []
    page_token = ""
    while True:
        page = await auth.ListUsers(
            auth_pb2.ListUsersRequest(page_size=2, page_token=page_token), metadata=admin
        )
        assert len(page.users) <= 2
        seen += [u.id for u in page.users]
        page_token = page.next_page_token
        if not page_token:
            break
    assert len(seen) == len(set(seen))
    assert {u.id for u in users} <= set(seen)

    found = await auth.ListUsers(
        auth_pb2.ListUsersRequest(email=f" {users[2].email.upper()} "), metadata=admin
    )
    assert [u.id for u in found.users] == [users[2].id]
    err = await _status(auth.ListUsers(auth_pb2.ListUsersRequest(page_token="%%%"), metadata=admin))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    promoted = await auth.SetUserRole(
        auth_pb2.SetUserRoleRequest(id=users[1].id, role=auth_pb2.ROLE_ADMIN), metadata=admin
    )
    assert promoted.user.role == auth_pb2.ROLE_ADMIN
    token = await _login(auth, users[1].email)
    verified = await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
    assert verified.role == auth_pb2.ROLE_ADMIN
    for role in (auth_pb2.ROLE_SERVICE, auth_pb2.ROLE_UNSPECIFIED, cast(auth_pb2.Role.ValueType, 99)):
        err = await _status(
            auth.SetUserRole(auth_pb2.SetUserRoleRequest(id=users[1].id, role=role), metadata=admin)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await _status(
        auth.SetUserRole(auth_pb2.SetUserRoleRequest(id=10**12, role=auth_pb2.ROLE_ADMIN), metadata=admin)
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_users_delete_themselves_and_admins_delete_anyone(auth: AuthStub, platform: Platform) -> None:
    me, token = await _customer(auth)
    await auth.DeleteUser(auth_pb2.DeleteUserRequest(id=me.id), metadata=bearer(token))
    err = await _status(auth.Login(auth_pb2.LoginRequest(email=me.email, password=PASSWORD)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    admin = bearer(await _admin_token(auth, platform))
    other, other_token = await _customer(auth)
    await auth.DeleteUser(auth_pb2.DeleteUserRequest(id=other.id), metadata=admin)
    err = await _status(auth.GetUser(auth_pb2.GetUserRequest(id=other.id), metadata=admin))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # Every token of a deleted account stops working at once, not only the one that deleted it.
    err = await _status(auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(other_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=other_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await _status(auth.DeleteUser(auth_pb2.DeleteUserRequest(id=other.id), metadata=admin))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # The email is free again, and the old id (still named by unexpired tokens) is not reused.
    assert (await _register(auth, other.email)).id != other.id


# --- CLI ---------------------------------------------------------------------------------------


async def _cli(platform: Platform, *args: str, password: str | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env["SHOP_DATABASE_URL"] = platform.settings("auth").resolved_database_url()
    env["SHOP_DATA_DIR"] = str(platform.data_dir)
    if password is not None:
        env["SHOP_NEW_ADMIN_PASSWORD"] = password
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.auth.cli", *args,
        cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode()


async def test_cli_creates_an_admin_who_can_log_in(auth: AuthStub, platform: Platform) -> None:
    email, password = _email(), f"cli-{uuid4().hex}"
    code, out = await _cli(platform, "create-admin", "--email", email.upper(), password=password)
    assert code == 0, out
    assert password not in out
    token = await _login(auth, email, password)
    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token))
    assert (me.user.email, me.user.role) == (email, auth_pb2.ROLE_ADMIN)

    code, out = await _cli(platform, "create-admin", "--email", email, password="different-password")
    assert code == 0, out
    assert "already an admin" in out
    assert await _login(auth, email, password)


async def test_cli_promotes_a_customer_only_when_asked(auth: AuthStub, platform: Platform) -> None:
    customer = await _register(auth)
    code, out = await _cli(platform, "create-admin", "--email", customer.email, password="whatever-123")
    assert code == 1
    assert "--promote" in out
    code, out = await _cli(platform, "create-admin", "--email", customer.email, "--promote")
    assert code == 0, out
    token = await _login(auth, customer.email)
    verified = await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
    assert verified.role == auth_pb2.ROLE_ADMIN


@pytest.mark.parametrize(
    ("email", "password"),
    [("not-an-email", "long-enough-1"), ("new@shop.test", "short"), ("new@shop.test", None)],
)
async def test_cli_rejects_bad_input(platform: Platform, email: str, password: str | None) -> None:
    code, out = await _cli(platform, "create-admin", "--email", email, password=password)
    assert code == 1, out
    assert "create-admin:" in out


# --- configuration -----------------------------------------------------------------------------


async def test_missing_or_wrong_private_key_stops_start_up(platform: Platform, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for path, message in [
        (tmp_path / "missing.pem", "cannot read"),
        (garbage, "not an unencrypted PEM private key"),
        (other, "does not match"),
    ]:
        settings = platform.settings("auth", auth_private_key_file=path)
        with pytest.raises(ConfigError, match=f"SHOP_AUTH_P.*{message}"):
            await start(settings, build)


def test_settings_defaults(platform: Platform) -> None:
    settings = Settings(service_name="auth", data_dir=Path("/srv/shop"))
    assert settings.private_key_path() == Path("/srv/shop/keys/auth_private.pem")
    assert (settings.token_ttl_seconds, settings.service_token_ttl_seconds) == (3600, 900)
    assert settings.admin_email is None
    assert settings.admin_password is None


# --- rules without I/O -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" A.B@Example.COM ", "a.b@example.com"), ("x+tag@sub.shop.test", "x+tag@sub.shop.test")],
)
def test_emails_are_normalized(raw: str, expected: str) -> None:
    assert domain.validated_email(raw) == expected


@pytest.mark.parametrize("name", ["a", "orders", "order-v2", "a" * 41])
def test_service_names_accepted(name: str) -> None:
    assert domain.validated_service_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "A", "a_b", "a" * 42, "a\n"])
def test_service_names_rejected(name: str) -> None:
    with pytest.raises(DomainError):
        domain.validated_service_name(name)


def test_issued_tokens_verify_with_the_kit(platform: Platform) -> None:
    key = serialization.load_pem_private_key(platform.keys.private_key.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    issuer = domain.TokenIssuer(key)
    verifier = TokenVerifier(platform.keys.public_key.read_bytes())
    user = verifier.verify(issuer.for_user(7, Role.ADMIN, 60).token)
    assert (user.user_id, user.role) == (7, Role.ADMIN)
    service = verifier.verify(issuer.for_service("cart", 60).token)
    assert (service.subject, service.role) == ("svc:cart", Role.SERVICE)
    with pytest.raises(DomainError):
        verifier.verify(issuer.issue("7", Role.CUSTOMER, 60, now=time.time() - 3600).token)
