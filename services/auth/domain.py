"""Auth rules without I/O: what a valid email, password and service name are, and how tokens
are signed (EdDSA JWTs with exactly the claims `services.kit.principal.TokenVerifier` checks)."""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass

import jwt
import zxcvbn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.emails import normalize_email
from services.kit.errors import ErrorCode, Kind, invalid
from services.kit.principal import ALGORITHM, AUDIENCE, ISSUER, SERVICE_SUBJECT_PREFIX, Role


class AuthError(ErrorCode):
    EMAIL_TAKEN = Kind.ALREADY_EXISTS, "email is already registered"
    BAD_CREDENTIALS = Kind.UNAUTHENTICATED, "invalid email or password"
    BAD_SERVICE_CREDENTIALS = Kind.UNAUTHENTICATED, "invalid service credentials"
    USER_NOT_FOUND = Kind.NOT_FOUND, "user not found"
    SESSION_ENDED = Kind.UNAUTHENTICATED, "the session has ended; sign in again"
    SESSION_REUSED = Kind.UNAUTHENTICATED, "this renewal token was already used; the session is ended"
    SESSION_RACED = Kind.ABORTED, "the session was renewed a moment ago; retry with the newer cookies"
    NOT_A_SESSION = Kind.INVALID_ARGUMENT, "this token belongs to no session"


MAX_EMAIL = 254
MIN_PASSWORD = 8
MAX_PASSWORD = 128
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,40}")
# zxcvbn finds a password among the leaked-password lists and keyboard, repeat and date patterns
# it ships, and estimates how many guesses it takes; under this many it is refused. That catches
# "12345678", "password", "qwertyuiop" and eight spaces, while a passphrase of ordinary words passes.
MIN_PASSWORD_GUESSES = 10_000
# zxcvbn's time grows steeply with length (over a second at 128 characters): it judges the start.
# A password whose first 32 characters are guessable is refused whatever follows.
_JUDGED_PREFIX = 32


def _is_hidden(char: str) -> bool:
    # Cc control (NUL, newline), Cf format (zero-width, bidi), Cs/Co/Cn: nothing an address shows.
    return unicodedata.category(char).startswith("C")


def validated_email(raw: str) -> str:
    email = normalize_email(raw)
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "@" in domain
        or len(email) > MAX_EMAIL
        or any(c.isspace() or _is_hidden(c) for c in email)
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or ".." in domain
    ):
        raise invalid("email is not a valid address")
    return email


def validated_password(raw: str) -> str:
    if not MIN_PASSWORD <= len(raw) <= MAX_PASSWORD:
        raise invalid(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if zxcvbn.zxcvbn(raw[:_JUDGED_PREFIX])["guesses"] < MIN_PASSWORD_GUESSES:
        raise invalid("password is too common or too easy to guess: choose a longer or less usual one")
    return raw


def validated_service_name(raw: str) -> str:
    if not _SERVICE_NAME.fullmatch(raw):
        raise invalid("service_name must match [a-z][a-z0-9-]{0,40}")
    return raw


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at: int


@dataclass(frozen=True)
class PublicKeyInfo:
    key_id: str
    algorithm: str
    pem: str


class TokenIssuer:
    """Signs tokens with the platform's one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key()
        self.public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key_id = hashlib.sha256(der).hexdigest()[:16]
        self.public_key = PublicKeyInfo(key_id, ALGORITHM, self.public_pem.decode())

    def issue(
        self,
        subject: str,
        role: Role,
        ttl_seconds: int,
        *,
        now: float | None = None,
        generation: int = 0,
        extra: dict[str, str] | None = None,
    ) -> IssuedToken:
        issued_at = int(time.time() if now is None else now)
        token_id = uuid.uuid4().hex
        claims: dict[str, object] = {
            **(extra or {}),
            "sub": subject,
            "role": role.value,
            "iat": issued_at,
            "exp": issued_at + ttl_seconds,
            "jti": token_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        if generation:
            claims["gen"] = generation
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token, token_id, issued_at + ttl_seconds)

    def for_user(self, user_id: int, role: Role, ttl_seconds: int, generation: int = 0) -> IssuedToken:
        return self.issue(str(user_id), role, ttl_seconds, generation=generation)

    def for_session(
        self, user_id: int, role: Role, ttl_seconds: int, generation: int, session_id: str, csrf: str
    ) -> IssuedToken:
        """A browser session's access token: a user token that also names its session and carries
        the session's anti-CSRF token (the gateway compares it with the request's header)."""
        extra = {"sid": session_id, "csrf": csrf}
        return self.issue(str(user_id), role, ttl_seconds, generation=generation, extra=extra)

    def for_service(self, name: str, ttl_seconds: int) -> IssuedToken:
        return self.issue(f"{SERVICE_SUBJECT_PREFIX}{name}", Role.SERVICE, ttl_seconds)


def retry_delay(attempts: int, base_seconds: float, max_seconds: float, jitter: float = 0.0) -> float:
    """Seconds before the next try of a failed step: doubling from `base_seconds` with each failed
    attempt, capped at `max_seconds`; `jitter` in [0, 1) takes up to that fraction off, so replicas
    and steps that failed together do not retry in lockstep."""
    delay = min(max_seconds, base_seconds * 2.0 ** min(attempts, 32))
    return delay * (1.0 - jitter * 0.5)
