"""Who is calling: the principal behind the bearer token of the current RPC.

Tokens are EdDSA-signed JWTs issued by the auth service; everyone else only verifies them with
the public key. The kit's interceptor verifies the token and sets the principal for the RPC;
servicers ask for what they need with `require_user()`, `require_admin()` or `require_service()`.
"""

from __future__ import annotations

import contextvars
import enum
from dataclasses import dataclass

import jwt

from services.kit.errors import CommonError, DomainError, invalid

ISSUER = "shop-auth"
AUDIENCE = "shop"
ALGORITHM = "EdDSA"
SERVICE_SUBJECT_PREFIX = "svc:"


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    token: str
    token_id: str = ""
    expires_at: int = 0
    # Tokens issued before the user's last role change carry a lower generation (see revocation.py).
    generation: int = 0
    # A browser session's access token names its session (`sid` claim); "" for any other token.
    session_id: str = ""

    @property
    def user_id(self) -> int:
        """The user's id; 0 for a service principal."""
        return 0 if self.role is Role.SERVICE else int(self.subject)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_service(self) -> bool:
        return self.role is Role.SERVICE

    def may_see(self, owner_id: int) -> bool:
        """Admins and services see every user's records; a user sees their own."""
        return self.is_admin or self.is_service or owner_id == self.user_id


class TokenVerifier:
    def __init__(self, public_key_pem: bytes) -> None:
        self._key = public_key_pem

    def verify(self, token: str) -> Principal:
        """Checks signature, issuer, audience and expiry; raises DomainError(INVALID_TOKEN)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "role", "jti"]},
            )
            role = Role(claims["role"])
            subject = str(claims["sub"])
            generation = claims.get("gen", 0)
            if type(generation) is not int or generation < 0:
                raise ValueError("gen must be a non-negative integer")
            if role is not Role.SERVICE and not subject.isdigit():
                raise ValueError("user subject must be numeric")
            session_id = claims.get("sid", "")
            if not isinstance(session_id, str):
                raise ValueError("sid must be a string")
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise DomainError(CommonError.INVALID_TOKEN) from exc
        return Principal(
            subject=subject,
            role=role,
            token=token,
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            generation=generation,
            session_id=session_id,
        )


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("shop_principal", default=None)


def current() -> Principal | None:
    return _current.get()


def set_current(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_current(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


def require_authenticated() -> Principal:
    principal = _current.get()
    if principal is None:
        raise DomainError(CommonError.UNAUTHENTICATED)
    return principal


def require_user() -> Principal:
    """A signed-in customer or admin (not a bare service token)."""
    principal = require_authenticated()
    if principal.is_service:
        raise DomainError(CommonError.PERMISSION_DENIED, "this call needs a user token")
    return principal


def require_admin() -> Principal:
    principal = require_authenticated()
    if not principal.is_admin:
        raise DomainError(CommonError.PERMISSION_DENIED, "admin role required")
    return principal


def require_service() -> Principal:
    principal = require_authenticated()
    if not principal.is_service:
        raise DomainError(CommonError.PERMISSION_DENIED, "internal callers only")
    return principal


def require_service_for(user_id: int) -> Principal:
    """An internal call about one user that it must name (account deletion, purchase checks)."""
    principal = require_service()
    if user_id <= 0:
        raise invalid("user_id is required")
    return principal


def require_admin_or_service() -> Principal:
    principal = require_authenticated()
    if not (principal.is_admin or principal.is_service):
        raise DomainError(CommonError.PERMISSION_DENIED, "admin role required")
    return principal


def acting_user_id(requested: int) -> int:
    """The user an RPC acts for: the caller, or any user named by a service or an admin.

    `requested` is the request's user_id (0 = the caller). A customer naming someone else is denied.
    """
    principal = require_authenticated()
    if principal.is_service or principal.is_admin:
        if requested:
            return requested
        if principal.is_service:
            raise DomainError(CommonError.INVALID_ARGUMENT, "user_id is required for service calls")
        return principal.user_id
    if requested and requested != principal.user_id:
        raise DomainError(CommonError.PERMISSION_DENIED, "you can only act on your own data")
    return principal.user_id
