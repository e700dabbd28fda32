"""Tokens for tests, signed like the auth service signs them (or deliberately not).

Minted tokens name users who were never registered: use ids far above the few hundred that the
suite registers (admin() is the bootstrap admin, id 1), since every service refuses the tokens of
registered users whom a test deleted or whose role it changed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.principal import ALGORITHM, AUDIENCE, ISSUER


@dataclass(frozen=True)
class TokenFactory:
    private_key_pem: bytes

    def make(
        self, subject: str, role: str, *, ttl: int = 600, key: bytes | Ed25519PrivateKey | None = None
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": subject,
            "role": role,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(claims, key or self.private_key_pem, algorithm=ALGORITHM)

    def customer(self, user_id: int) -> str:
        return self.make(str(user_id), "customer")

    def admin(self, user_id: int = 1) -> str:
        return self.make(str(user_id), "admin")

    def service(self, name: str) -> str:
        return self.make(f"svc:{name}", "service")

    def expired(self, user_id: int) -> str:
        return self.make(str(user_id), "customer", ttl=-120)

    def foreign(self, user_id: int) -> str:
        """Well-formed, but signed with a key the platform never saw."""
        return self.make(str(user_id), "admin", key=Ed25519PrivateKey.generate())


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)
