"""Which signed tokens no longer count, checked by every service on every call.

The auth service writes the revocation list; every process reads it through `TokenChecker`, so a
logged-out token, a deleted account's token or the token of someone whose role changed is refused
by every service at once, not only by the gateway. The list lives in Redis under auth's key
namespace (it is auth's published record, like its public key):

    <prefix>auth:revoked:<jti>           a logged-out token, until it would have expired
    <prefix>auth:revoked-user:<user>     every token of a deleted account
    <prefix>auth:user-gen:<user>         the user's token generation; a token whose `gen` claim is
                                         lower was issued before a role change and is refused

Each write is followed by a message on `<prefix>auth:revocations`. A checker keeps "still valid"
answers for a moment (`cache_seconds`) only while it is subscribed to that channel, and forgets them
all on every message, so the cache saves a Redis round trip per call without delaying a revocation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.kit import redis as kit_redis
from services.kit.errors import CommonError, DomainError
from services.kit.principal import Principal, TokenVerifier
from services.kit.redis import Keys

log = logging.getLogger("shop.revocation")

OWNER = "auth"
CHANNEL = "revocations"
MAX_CACHED = 20_000


class RevocationList:
    """The revocation keys: written by auth, read by every checker (and by activity's ingest)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._keys = Keys(prefix, OWNER)

    @property
    def client(self) -> aioredis.Redis:
        return self._redis

    @property
    def channel(self) -> str:
        return self._keys(CHANNEL)

    async def _announce(self) -> None:
        await self._redis.publish(self.channel, "1")

    async def revoke(self, token_id: str, expires_at: int) -> None:
        remaining = expires_at - int(time.time())
        if remaining > 0:
            # One second more than needed: never forget a token a moment before it expires.
            await self._redis.set(self._keys("revoked", token_id), "1", ex=remaining + 1)
            await self._announce()

    async def revoke_user(self, user_id: int, ttl_seconds: int) -> None:
        """Every token of a deleted user, for as long as any of them can still be valid."""
        await self._redis.set(self._keys("revoked-user", user_id), "1", ex=ttl_seconds + 1)
        await self._announce()

    async def generation(self, user_id: int) -> int:
        """The generation new tokens of this user carry (0 until their role first changes)."""
        value = await self._redis.get(self._keys("user-gen", user_id))
        return int(value) if value else 0

    async def next_generation(self, user_id: int, ttl_seconds: int) -> None:
        """Refuses every token the user holds now: issued with a lower generation. Kept for as long
        as such a token can live; after that every token carries at least the stored one again."""
        key = self._keys("user-gen", user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds + 1)
            await pipe.execute()
        await self._announce()

    async def refused(self, who: Principal) -> bool:
        """Whether a user's token was revoked, its account deleted or its role changed since."""
        revoked, deleted, generation = await kit_redis.mget(
            self._redis,
            [
                self._keys("revoked", who.token_id),
                self._keys("revoked-user", who.subject),
                self._keys("user-gen", who.subject),
            ],
        )
        return bool(revoked or deleted) or (generation is not None and who.generation < int(generation))

    async def deleted_users(self, user_ids: Iterable[int]) -> set[int]:
        """Those of `user_ids` whose account was deleted (within the tokens' lifetime)."""
        ids = sorted(set(user_ids))
        if not ids:
            return set()
        found = await kit_redis.mget(self._redis, [self._keys("revoked-user", u) for u in ids])
        return {u for u, value in zip(ids, found, strict=True) if value}


class TokenChecker:
    """Signature, expiry and revocation of a bearer token, with a short cache of valid answers."""

    def __init__(
        self, verifier: TokenVerifier, revocations: RevocationList, cache_seconds: float = 1.0
    ) -> None:
        self._verifier = verifier
        self.revocations = revocations
        self._cache_seconds = cache_seconds
        self._valid_until: dict[str, float] = {}
        # Verified signatures by token: a signature never stops holding, only the token expires.
        self._verified: dict[str, Principal] = {}
        # Bumped on every invalidation, so an answer read before one is never cached after it.
        self._epoch = 0
        self._subscribed = False

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    async def check(self, token: str) -> Principal:
        """The token's principal; DomainError(INVALID_TOKEN / TOKEN_REVOKED) when it does not count."""
        who = self._verified.get(token)
        if who is None or who.expires_at <= time.time():
            who = self._verifier.verify(token)
            if len(self._verified) >= MAX_CACHED:
                self._verified.clear()
            self._verified[token] = who
        if who.is_service:
            return who
        now = time.monotonic()
        if self._valid_until.get(who.token_id, 0.0) > now:
            return who
        epoch = self._epoch
        if await self.revocations.refused(who):
            raise DomainError(CommonError.TOKEN_REVOKED)
        if self._subscribed and epoch == self._epoch and self._cache_seconds > 0:
            if len(self._valid_until) >= MAX_CACHED:
                self._valid_until.clear()
            self._valid_until[who.token_id] = now + self._cache_seconds
        return who

    def _invalidate(self) -> None:
        self._epoch += 1
        self._valid_until.clear()

    async def listen(self, retry_seconds: float = 1.0) -> None:
        """Runs for the life of the process: forgets cached answers on every revocation, and
        caches nothing while it is not subscribed (Redis down, reconnecting)."""
        client = self.revocations.client
        while True:
            pubsub = client.pubsub()
            try:
                await kit_redis.ready(client)
                await pubsub.subscribe(self.revocations.channel)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message["type"] not in ("subscribe", "message"):
                        continue  # a timeout, or the reply to a health-check ping
                    self._subscribed = True
                    self._invalidate()
            except (RedisError, OSError) as exc:
                log.warning("revocation channel lost", extra={"error": repr(exc)})
            finally:
                self._subscribed = False
                self._invalidate()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(retry_seconds)
