"""Browser sessions: a family of one renewal token and one live access token, kept in Redis
under auth's key namespace:

    keys("session", sid)          hash  user, csrf, renewal (sha256 of the current renewal
                                        secret), previous (of the one it replaced), rotated_at,
                                        access_jti, access_exp; gone after `ttl` idle seconds
    keys("user-sessions", user)   set   the user's session ids (a member may outlive its session)

A renewal token is `<sid>.<secret>`; only its hash is stored. Each renewal replaces it (rotation) and
the access token (the replaced one is revoked), in one script. Presenting a replaced renewal token
again means it was copied: the whole session ends, except within `grace` seconds of the
replacement, when it is two tabs renewing at once (the loser is told to retry with the cookies the
winner received). Ending a session deletes it and revokes its access token through the revocation
list every service checks, so it stops working everywhere at once. The scripts touch one key each
(a session), so they run on Redis Cluster as they are.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.typing import EncodableT, FieldT

from services.kit.redis import Keys
from services.kit.revocation import RevocationList

DEFAULT_TTL_SECONDS = 14 * 24 * 3600
DEFAULT_ACCESS_TTL_SECONDS = 900
GRACE_SECONDS = 10
_SID_BYTES = 16
_SECRET_BYTES = 32

# KEYS: session. ARGV: presented hash, new hash, now, grace, ttl, access jti, access exp.
# Returns {"renewed", old jti, old exp} | {"raced"} | {"reused", jti, exp} | {"missing"}.
_ROTATE = """
local s = redis.call('HMGET', KEYS[1], 'renewal', 'previous', 'rotated_at', 'access_jti', 'access_exp')
if not s[1] then
  return {'missing'}
end
if s[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'renewal', ARGV[2], 'previous', ARGV[1], 'rotated_at', ARGV[3],
    'access_jti', ARGV[6], 'access_exp', ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return {'renewed', s[4], s[5]}
end
if s[2] == ARGV[1] and tonumber(ARGV[3]) - tonumber(s[3]) <= tonumber(ARGV[4]) then
  return {'raced'}
end
redis.call('DEL', KEYS[1])
return {'reused', s[4], s[5]}
"""

# KEYS: session. Returns {user, access jti, access exp} of the deleted session, or {} when none.
_END = """
local s = redis.call('HMGET', KEYS[1], 'user', 'access_jti', 'access_exp')
if not s[1] then
  return {}
end
redis.call('DEL', KEYS[1])
return s
"""


class Outcome(enum.Enum):
    RENEWED = "renewed"
    # The token was replaced a moment ago by a concurrent renewal: retry with the newer cookies.
    RACED = "raced"
    # A replaced token came back: the session is ended.
    REUSED = "reused"
    # No such session (ended, expired, or not a renewal token at all).
    MISSING = "missing"


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: int
    csrf: str


@dataclass(frozen=True)
class Rotation:
    outcome: Outcome
    renewal_token: str = ""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_renewal(token: str) -> tuple[str, str] | None:
    """(session id, secret) of a well-formed renewal token."""
    sid, dot, secret = token.partition(".")
    if not dot or not 16 <= len(sid) <= 64 or not 32 <= len(secret) <= 128 or not sid.isascii():
        return None
    if not all(c.isalnum() or c in "-_" for c in sid + secret):
        return None
    return sid, secret


class SessionStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        revocations: RevocationList,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._revocations = revocations
        self.ttl_seconds = ttl_seconds
        self._grace = grace_seconds
        self._rotate = client.register_script(_ROTATE)
        self._end = client.register_script(_END)

    @staticmethod
    def new_ids() -> tuple[str, str]:
        """A new session's id and anti-CSRF token."""
        return secrets.token_urlsafe(_SID_BYTES), secrets.token_urlsafe(_SID_BYTES)

    async def create(self, session_id: str, user_id: int, csrf: str, access_jti: str, access_exp: int) -> str:
        """Stores a new session; returns its first renewal token."""
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        key, members = self._keys("session", session_id), self._keys("user-sessions", user_id)
        fields: dict[FieldT, EncodableT] = {
            "user": user_id,
            "csrf": csrf,
            "renewal": _hash(secret),
            "previous": "",
            "rotated_at": int(time.time()),
            "access_jti": access_jti,
            "access_exp": access_exp,
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl_seconds)
            pipe.sadd(members, session_id)
            pipe.expire(members, self.ttl_seconds)
            await pipe.execute()
        return f"{session_id}.{secret}"

    async def get(self, session_id: str) -> SessionRecord | None:
        user, csrf = await self._redis.hmget(self._keys("session", session_id), ["user", "csrf"])
        if not user:
            return None
        return SessionRecord(session_id, int(user), str(csrf))

    async def rotate(self, renewal_token: str, access_jti: str, access_exp: int) -> Rotation:
        """Replaces the renewal token and the access token (already signed: `access_jti`)."""
        parts = split_renewal(renewal_token)
        if parts is None:
            return Rotation(Outcome.MISSING)
        sid, secret = parts
        new_secret = secrets.token_urlsafe(_SECRET_BYTES)
        now = int(time.time())
        args: list[str | int | float] = [
            _hash(secret),
            _hash(new_secret),
            now,
            self._grace,
            self.ttl_seconds,
            access_jti,
            access_exp,
        ]
        reply = await self._rotate(keys=[self._keys("session", sid)], args=args)
        outcome = Outcome(reply[0])
        if outcome in (Outcome.RENEWED, Outcome.REUSED) and reply[1]:
            # The replaced access token (renewed), or the live one of an ended session (reused).
            await self._revocations.revoke(str(reply[1]), int(reply[2]))
        if outcome is Outcome.RENEWED:
            return Rotation(outcome, f"{sid}.{new_secret}")
        return Rotation(outcome)

    async def end(self, session_id: str) -> bool:
        """Ends one session (its access token revoked); False when there was none."""
        found = await self._end(keys=[self._keys("session", session_id)])
        if not found:
            return False
        user, jti, exp = found
        await self._redis.srem(self._keys("user-sessions", user), session_id)
        if jti:
            await self._revocations.revoke(str(jti), int(exp))
        return True

    async def end_user(self, user_id: int, keep: str = "") -> int:
        """Ends every session of the user except `keep`; returns how many were ended."""
        members = self._keys("user-sessions", user_id)
        ended = 0
        for session_id in await self._redis.smembers(members):
            if session_id == keep:
                continue
            if await self.end(str(session_id)):
                ended += 1
            else:
                await self._redis.srem(members, session_id)
        return ended
