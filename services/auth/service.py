"""The auth service: accounts, sign-in and the platform's tokens.

Only this service holds the signing key. Tokens are EdDSA JWTs (see `domain.TokenIssuer`);
everyone else verifies them with the public key. Logout revokes a token in Redis until it
expires, deleting an account revokes every token of that user, and a role change refuses the
user's earlier tokens; the kit's `TokenChecker` makes every service, this one included, check that
list on every call (see `services/kit/revocation.py`); the gateway does too. VerifyToken is that
check for a caller that cannot run it (a gateway without Redis or the public key).

Deleting an account also has every other service forget the person: see `forget.py`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import grpc
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import Field, SecretStr

from services.kit import paging, principal, telemetry, timestamps
from services.kit.config import ConfigError, ServiceSettings
from services.kit.emails import normalize_email
from services.kit.errors import DomainError, invalid
from services.kit.principal import Role
from services.kit.revocation import RevocationList, TokenChecker
from services.kit.server import Registration, Runtime
from shop.auth.v1 import auth_pb2, auth_pb2_grpc

from . import metrics
from .domain import (
    MAX_PASSWORD,
    AuthError,
    TokenIssuer,
    validated_email,
    validated_password,
    validated_service_name,
)
from .forget import FORGET_TARGETS, Forgetter, forget_calls, forget_channels
from .passwords import Passwords
from .sessions import DEFAULT_ACCESS_TTL_SECONDS, DEFAULT_TTL_SECONDS, Outcome, SessionStore, split_renewal
from .store import AdminOutcome, DeletionSteps, UserRole, UserRow, UserStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger("shop.auth")


class Settings(ServiceSettings):
    # Unset: <data_dir>/keys/auth_private.pem.
    auth_private_key_file: Path | None = None
    # Both set: this account is made an admin at start-up (created if missing; an existing
    # account keeps its password).
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    token_ttl_seconds: int = Field(default=3600, gt=0)
    service_token_ttl_seconds: int = Field(default=900, gt=0)
    # Browser sessions (sessions.py): idle lifetime of a session, and of each of its access tokens.
    session_ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, gt=0)
    session_access_ttl_seconds: int = Field(default=DEFAULT_ACCESS_TTL_SECONDS, gt=0)
    # Account deletion: how often the outbox is checked for due steps, and the backoff of a step
    # whose service failed (doubling from the base up to the max).
    deletion_poll_seconds: float = Field(default=1.0, gt=0)
    deletion_retry_base_seconds: float = Field(default=1.0, gt=0)
    deletion_retry_max_seconds: float = Field(default=300.0, gt=0)

    def private_key_path(self) -> Path:
        return self.auth_private_key_file or self.data_dir / "keys" / "auth_private.pem"

    def signing_key(self) -> Ed25519PrivateKey:
        path = self.private_key_path()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"SHOP_AUTH_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(
                f"SHOP_AUTH_PRIVATE_KEY_FILE: {path} is not an unencrypted PEM private key"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"SHOP_AUTH_PRIVATE_KEY_FILE: {path} does not hold an Ed25519 private key")
        return key


_ROLE_TO_PROTO = {
    Role.CUSTOMER: auth_pb2.ROLE_CUSTOMER,
    Role.ADMIN: auth_pb2.ROLE_ADMIN,
    Role.SERVICE: auth_pb2.ROLE_SERVICE,
}
_ASSIGNABLE_ROLES = {auth_pb2.ROLE_CUSTOMER: UserRole.CUSTOMER, auth_pb2.ROLE_ADMIN: UserRole.ADMIN}


def _to_proto(row: UserRow) -> auth_pb2.User:
    return auth_pb2.User(
        id=row.id,
        email=row.email,
        role=_ROLE_TO_PROTO[Role(row.role)],
        create_time=timestamps.to_proto(row.created_at),
    )


def _expiry(expires_at: int) -> Timestamp:
    return Timestamp(seconds=expires_at)


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        settings: Settings,
        store: UserStore,
        tokens: TokenChecker,
        passwords: Passwords,
        issuer: TokenIssuer,
        service_secret: str,
        forgetter: Forgetter,
        sessions: SessionStore,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._forgetter = forgetter
        self._tokens = tokens
        self._revocations: RevocationList = tokens.revocations
        self._passwords = passwords
        self._issuer = issuer
        self._service_secret = service_secret.encode()

    async def _user(self, user_id: int) -> UserRow:
        row = await self._store.get(user_id)
        if row is None:
            raise DomainError(AuthError.USER_NOT_FOUND, f"user {user_id} not found")
        return row

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RegisterResponse:
        email = validated_email(request.email)
        password = validated_password(request.password)
        row = await self._store.create(email, await self._passwords.hash(password), UserRole.CUSTOMER)
        if row is None:
            raise DomainError(AuthError.EMAIL_TAKEN)
        log.info("user registered", extra={"user_id": row.id})
        return auth_pb2.RegisterResponse(user=_to_proto(row))

    async def _signed_in(self, raw_email: str, password: str) -> tuple[UserRow, int]:
        """The account these credentials open, as it is now, and the generation its tokens carry."""
        email = normalize_email(raw_email)
        if not email or not password:
            raise invalid("email and password are required")
        if len(password) > MAX_PASSWORD:
            # No account can have it; don't spend a hash on it.
            raise DomainError(AuthError.BAD_CREDENTIALS)
        row = await self._store.get_by_email(email)
        if row is None:
            await self._passwords.burn(password)
            raise DomainError(AuthError.BAD_CREDENTIALS)
        if not await self._passwords.verify(row.password_hash, password):
            raise DomainError(AuthError.BAD_CREDENTIALS)
        if self._passwords.needs_rehash(row.password_hash):
            await self._store.set_password_hash(row.id, await self._passwords.hash(password))
        return await self._current(row.id)

    async def _current(self, user_id: int) -> tuple[UserRow, int]:
        # The generation first, then the role: a role change writes the role, then the generation,
        # so a token can never carry the old role with the new generation.
        generation = await self._revocations.generation(user_id)
        current = await self._store.get(user_id)
        if current is None:
            raise DomainError(AuthError.BAD_CREDENTIALS)
        return current, generation

    async def Login(
        self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LoginResponse:
        current, generation = await self._signed_in(request.email, request.password)
        issued = self._issuer.for_user(
            current.id, Role(current.role), self._settings.token_ttl_seconds, generation
        )
        return auth_pb2.LoginResponse(token=issued.token, expire_time=_expiry(issued.expires_at))

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LogoutResponse:
        who = principal.require_authenticated()
        await self._revocations.revoke(who.token_id, who.expires_at)
        return auth_pb2.LogoutResponse()

    async def GetMe(
        self, request: auth_pb2.GetMeRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetMeResponse:
        who = principal.require_user()
        return auth_pb2.GetMeResponse(user=_to_proto(await self._user(who.user_id)))

    async def VerifyToken(
        self, request: auth_pb2.VerifyTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.VerifyTokenResponse:
        who = await self._tokens.check(request.token)
        return auth_pb2.VerifyTokenResponse(
            subject=who.subject, role=_ROLE_TO_PROTO[who.role], expire_time=_expiry(who.expires_at)
        )

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.IssueServiceTokenResponse:
        given = request.service_secret.encode()
        if not self._service_secret or not hmac.compare_digest(given, self._service_secret):
            raise DomainError(AuthError.BAD_SERVICE_CREDENTIALS)
        name = validated_service_name(request.service_name)
        issued = self._issuer.for_service(name, self._settings.service_token_ttl_seconds)
        return auth_pb2.IssueServiceTokenResponse(token=issued.token, expire_time=_expiry(issued.expires_at))

    async def GetPublicKeys(
        self, request: auth_pb2.GetPublicKeysRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetPublicKeysResponse:
        key = self._issuer.public_key
        return auth_pb2.GetPublicKeysResponse(
            keys=[auth_pb2.PublicKey(key_id=key.key_id, algorithm=key.algorithm, pem=key.pem)]
        )

    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetUserResponse:
        # Services too: profile copies the account's email when it first stores a profile.
        principal.require_admin_or_service()
        return auth_pb2.GetUserResponse(user=_to_proto(await self._user(request.id)))

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListUsersResponse:
        principal.require_admin()
        size = paging.page_size(request.page_size)
        rows = await self._store.list(
            size + 1, paging.decode_int(request.page_token), normalize_email(request.email)
        )
        rows, token = paging.split(rows, size, lambda r: paging.encode(r.id))
        return auth_pb2.ListUsersResponse(users=[_to_proto(r) for r in rows], next_page_token=token)

    async def SetUserRole(
        self, request: auth_pb2.SetUserRoleRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.SetUserRoleResponse:
        principal.require_admin()
        role = _ASSIGNABLE_ROLES.get(request.role)
        if role is None:
            raise invalid("role must be ROLE_CUSTOMER or ROLE_ADMIN")
        before = await self._user(request.id)
        row = await self._store.set_role(request.id, role)
        if row is None:
            raise DomainError(AuthError.USER_NOT_FOUND, f"user {request.id} not found")
        if row.role != before.role:
            # Tokens carry the role: every token the user holds now is refused everywhere, and
            # their next sign-in carries the new one.
            await self._revocations.next_generation(row.id, self._settings.token_ttl_seconds)
        log.info("user role set", extra={"user_id": row.id, "role": row.role})
        return auth_pb2.SetUserRoleResponse(user=_to_proto(row))

    async def DeleteUser(
        self, request: auth_pb2.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.DeleteUserResponse:
        principal.require_user()
        user_id = principal.acting_user_id(request.id)
        # Tokens first: once the outbox below is written, services may start forgetting, and
        # nothing may be recorded for the person after that (activity checks this list on ingest).
        # Ids are never reused, so this stops exactly the deleted account's remaining tokens.
        await self._revocations.revoke_user(user_id, self._settings.token_ttl_seconds)
        await self._sessions.end_user(user_id)
        # The user row and the outbox of what other services must forget, in one transaction.
        if not await self._store.delete(user_id, FORGET_TARGETS):
            raise DomainError(AuthError.USER_NOT_FOUND, f"user {user_id} not found")
        self._forgetter.wake()
        log.info("user deleted", extra={"user_id": user_id})
        return auth_pb2.DeleteUserResponse()

    # -- browser sessions (sessions.py) -----------------------------------------------------------

    def _session(
        self, row: UserRow, generation: int, session_id: str, csrf: str
    ) -> tuple[auth_pb2.Session, str]:
        """A new access token of the session (not yet handed out) and its id."""
        access = self._issuer.for_session(
            row.id, Role(row.role), self._settings.session_access_ttl_seconds, generation, session_id, csrf
        )
        session = auth_pb2.Session(
            session_id=session_id,
            access_token=access.token,
            access_expire_time=_expiry(access.expires_at),
            renewal_expire_time=_expiry(int(time.time()) + self._sessions.ttl_seconds),
            csrf_token=csrf,
            user=_to_proto(row),
        )
        return session, access.token_id

    async def CreateSession(
        self, request: auth_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateSessionResponse:
        row, generation = await self._signed_in(request.email, request.password)
        session_id, csrf = SessionStore.new_ids()
        session, token_id = self._session(row, generation, session_id, csrf)
        session.renewal_token = await self._sessions.create(
            session_id, row.id, csrf, token_id, session.access_expire_time.seconds
        )
        log.info("session started", extra={"user_id": row.id})
        return auth_pb2.CreateSessionResponse(session=session)

    async def RenewSession(
        self, request: auth_pb2.RenewSessionRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RenewSessionResponse:
        parts = split_renewal(request.renewal_token)
        record = await self._sessions.get(parts[0]) if parts else None
        if record is None:
            raise DomainError(AuthError.SESSION_ENDED)
        try:
            row, generation = await self._current(record.user_id)
        except DomainError:
            await self._sessions.end(record.session_id)  # the account is gone
            raise DomainError(AuthError.SESSION_ENDED) from None
        session, token_id = self._session(row, generation, record.session_id, record.csrf)
        rotation = await self._sessions.rotate(
            request.renewal_token, token_id, session.access_expire_time.seconds
        )
        if rotation.outcome is Outcome.RACED:
            raise DomainError(AuthError.SESSION_RACED)
        if rotation.outcome is Outcome.REUSED:
            log.warning("renewal token reused: session ended", extra={"user_id": row.id})
            raise DomainError(AuthError.SESSION_REUSED)
        if rotation.outcome is Outcome.MISSING:
            raise DomainError(AuthError.SESSION_ENDED)
        session.renewal_token = rotation.renewal_token
        return auth_pb2.RenewSessionResponse(session=session)

    async def EndSession(
        self, request: auth_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.EndSessionResponse:
        if request.renewal_token:
            parts = split_renewal(request.renewal_token)
            if parts:
                await self._sessions.end(parts[0])
            return auth_pb2.EndSessionResponse()
        who = principal.require_user()
        if not who.session_id:
            raise DomainError(AuthError.NOT_A_SESSION)
        await self._sessions.end(who.session_id)
        return auth_pb2.EndSessionResponse()

    async def EndUserSessions(
        self, request: auth_pb2.EndUserSessionsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.EndUserSessionsResponse:
        who = principal.require_user()
        user_id = principal.acting_user_id(request.user_id)
        keep = who.session_id if user_id == who.user_id else ""
        ended = await self._sessions.end_user(user_id, keep=keep)
        log.info("sessions ended", extra={"user_id": user_id, "ended": ended, "by": who.user_id})
        return auth_pb2.EndUserSessionsResponse(ended=ended)


def _check_public_key(settings: Settings, issuer: TokenIssuer) -> None:
    """The public key every service verifies with must be the one matching our private key."""
    path = settings.auth_public_key_file or settings.data_dir / "keys" / "auth_public.pem"
    try:
        configured = serialization.load_pem_public_key(settings.public_key_pem())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"SHOP_AUTH_PUBLIC_KEY_FILE: {path} is not a PEM public key") from exc
    ours = serialization.load_pem_public_key(issuer.public_pem)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if not (
        isinstance(configured, Ed25519PublicKey)
        and isinstance(ours, Ed25519PublicKey)
        and configured.public_bytes(*raw) == ours.public_bytes(*raw)
    ):
        raise ConfigError(
            f"SHOP_AUTH_PUBLIC_KEY_FILE: {path} does not match the private key {settings.private_key_path()}"
        )


def _admin_credentials(settings: Settings) -> tuple[str, str] | None:
    email = (settings.admin_email or "").strip()
    password = settings.admin_password.get_secret_value() if settings.admin_password else ""
    if not email and not password:
        return None
    if not email or not password:
        log.warning("admin bootstrap skipped: set both SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD")
        return None
    try:
        email = validated_email(email)
    except DomainError:
        raise ConfigError(f"SHOP_ADMIN_EMAIL: {email!r} is not a valid email address") from None
    try:
        validated_password(password)
    except DomainError as exc:
        raise ConfigError(f"SHOP_ADMIN_PASSWORD: {exc.message}") from None
    return email, password


async def bootstrap_admin(settings: Settings, store: UserStore, passwords: Passwords) -> None:
    credentials = _admin_credentials(settings)
    if credentials is None:
        return
    email, password = credentials
    existing = await store.get_by_email(email)
    if existing is not None and existing.role == UserRole.ADMIN:
        outcome = AdminOutcome.PRESENT
    else:
        outcome = await store.ensure_admin(email, await passwords.hash(password))
    log.info(f"admin account {outcome.value}", extra={"email": email})


async def _close_channels(channels: Iterable[grpc.aio.Channel]) -> None:
    await asyncio.gather(*(channel.close() for channel in channels))


async def build(runtime: Runtime) -> Sequence[Registration]:
    settings = runtime.settings_as(Settings)
    # Configuration first, so a missing key or secret stops start-up before anything else.
    issuer = TokenIssuer(settings.signing_key())
    _check_public_key(settings, issuer)
    service_secret = settings.service_secret()
    db = await runtime.database(MIGRATIONS)
    runtime.background(telemetry.refreshing(metrics.refresher(db)), "auth-metrics")
    store = UserStore(db)
    passwords = Passwords()
    await passwords.prepare()
    await bootstrap_admin(settings, store, passwords)
    channels = forget_channels(settings)
    runtime.stack.push_async_callback(_close_channels, channels.values())
    forgetter = Forgetter(
        DeletionSteps(db),
        forget_calls(channels),
        runtime.service_token(),
        call_timeout=settings.rpc_timeout_seconds,
        poll_seconds=settings.deletion_poll_seconds,
        retry_base_seconds=settings.deletion_retry_base_seconds,
        retry_max_seconds=settings.deletion_retry_max_seconds,
    )
    runtime.background(forgetter.run(), "auth-forgetter")
    sessions = SessionStore(
        runtime.redis(), runtime.redis_keys(), runtime.tokens.revocations, settings.session_ttl_seconds
    )
    return [
        Registration(
            AuthServicer(
                settings, store, runtime.tokens, passwords, issuer, service_secret, forgetter, sessions
            ),
            auth_pb2_grpc.add_AuthServiceServicer_to_server,
            auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
        )
    ]
