"""Password hashing with argon2id, always off the event loop.

Each hash takes tens of milliseconds and 64 MiB, so at most a few run at once: a burst of
logins queues here instead of stalling the loop or exhausting memory.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None, concurrency: int | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._slots = asyncio.Semaphore(concurrency or max(2, os.cpu_count() or 2))
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False

    async def prepare(self) -> str:
        """The stand-in hash `burn` checks against (made at start-up, so no request pays for it)."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy

    async def burn(self, password: str) -> None:
        """Spends the time of a real check when there is no such user, so timing tells nothing."""
        await self.verify(await self.prepare(), password)
