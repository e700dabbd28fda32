"""Carrier webhook signatures: who sent it, when, and only once.

A carrier signs `"<timestamp>.<body>"` (timestamp in Unix seconds, sent as X-Shop-Timestamp) with
HMAC-SHA256 and the shared secret. A webhook more than `WINDOW_SECONDS` off our clock is refused,
and so is a signature already seen within the window (kept in Redis, so every replica knows it):
a captured webhook cannot be sent again, now or later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import redis.asyncio as aioredis

from services.kit.errors import DomainError
from services.kit.redis import Keys

from .domain import ShippingError

WINDOW_SECONDS = 300
# Unix seconds have 10 digits until the year 2286; more is not a time.
_MAX_TIMESTAMP_DIGITS = 12


def signature(secret: str, timestamp: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()


class WebhookVerifier:
    def __init__(self, secret: str, redis: aioredis.Redis, keys: Keys) -> None:
        self._secret = secret
        self._redis = redis
        self._keys = keys

    async def verify(self, payload: bytes, given_signature: str, timestamp: str) -> None:
        """Returns when the webhook is signed with the secret, fresh and new; raises DomainError otherwise."""
        stamp = timestamp.strip()
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
            raise DomainError(ShippingError.STALE_WEBHOOK)
        expected = signature(self._secret, stamp, payload)
        given = given_signature.strip().lower().removeprefix("sha256=")
        # compare_digest refuses non-ASCII text with a TypeError; no such signature is ours.
        if not given.isascii() or not hmac.compare_digest(expected, given):
            raise DomainError(ShippingError.BAD_SIGNATURE)
        # Checked after the signature, so an unsigned request learns nothing about our clock.
        if abs(time.time() - int(stamp)) > WINDOW_SECONDS:
            raise DomainError(ShippingError.STALE_WEBHOOK)
        # Remembered for twice the window: a timestamp at the window's far edge is still covered.
        first = await self._redis.set(
            self._keys("webhook-seen", expected), b"1", nx=True, ex=2 * WINDOW_SECONDS
        )
        if not first:
            raise DomainError(ShippingError.REPLAYED_WEBHOOK)
