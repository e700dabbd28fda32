"""A lease in Redis that lets one replica at a time run a periodic pass (order recovery, the
payments resolver, the activity purge, the catalog's signals).

Taking it gives a fencing number that grows with every new holder. While the pass runs, the
holder renews the lease every third of its time to live, naming that number; a renewal that finds
the lease gone or held under another number (the holder stalled past the expiry and another
replica took over) cancels the pass at once, so two holders never work side by side for longer
than one renewal step. Passes are written to survive being cut short (a killed process does the
same), and their writes stay conditional, which settles the few that race the hand-over.

The lease key and its fence counter share a hash tag, so the scripts run on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# KEYS: lease, fence counter. ARGV: holder, ttl ms. The fence number if taken (or already ours), else -1.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if not current then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
  return fence
end
local bar = string.find(current, '|', 1, true)
if bar and string.sub(current, 1, bar - 1) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, bar + 1))
end
return -1
"""
# KEYS: lease. ARGV: holder|fence, ttl ms (0: release). 1 if it was still ours.
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class LeaseLost(Exception):
    """The lease expired or passed to another holder while the pass ran; the pass was cancelled."""


def holder_name() -> str:
    """This process, unique even for two processes on one host."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, redis: Any, key: str, ttl_seconds: float = 60.0, holder: str | None = None) -> None:
        tag = "{" + key + "}"
        self._keys = [tag, f"{tag}:fence"]
        self._ttl_ms = max(int(ttl_seconds * 1000), 1)
        self._renew_every = ttl_seconds / 3
        self.holder = holder or holder_name()
        self._acquire = redis.register_script(_ACQUIRE)
        self._keep = redis.register_script(_KEEP)

    async def acquire(self) -> int | None:
        """The fence number if this holder has the lease now, else None."""
        fence = int(await self._acquire(keys=self._keys, args=[self.holder, self._ttl_ms]))
        return fence if fence >= 0 else None

    async def _take(self) -> int | None:
        """`acquire`, handing the lease back if this task is cancelled meanwhile (the service
        stopping): Redis may have given it already, and the other replicas would wait out its time."""
        taking = asyncio.ensure_future(self.acquire())
        try:
            return await asyncio.shield(taking)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                fence = await taking
                if fence is not None:
                    await self.release(fence)
            raise

    async def renew(self, fence: int) -> bool:
        return bool(await self._keep(keys=self._keys[:1], args=[f"{self.holder}|{fence}", self._ttl_ms]))

    async def release(self, fence: int) -> None:
        await self._keep(keys=self._keys[:1], args=[f"{self.holder}|{fence}", 0])

    async def run(self, work: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """Runs `work` if the lease can be taken: (True, its result), or (False, None) when another
        holder has it. Raises LeaseLost if the lease is lost before `work` ends."""
        fence = await self._take()
        if fence is None:
            return False, None
        task: asyncio.Future[T] = asyncio.ensure_future(work())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._renew_every)
                if done:
                    return True, task.result()
                try:
                    kept = await self.renew(fence)
                except Exception as exc:  # Redis away: no proof the lease is still ours
                    log.warning("lease not renewed", extra={"lease": self._keys[0], "error": repr(exc)})
                    kept = False
                if not kept:
                    raise LeaseLost(self._keys[0])
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.release(fence)


async def exclusive(lease: Lease | None, work: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
    """`lease.run(work)`, or `work()` alone where no lease is given (one process, or tests)."""
    if lease is None:
        return True, await work()
    return await lease.run(work)
