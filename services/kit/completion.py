"""Work that must finish once started, even when the RPC that started it is cancelled (the caller
went away or ran out of time): a provider's answer must be recorded, a half-done checkout must be
completed or undone. A late answer is better than half a change.

`to_completion(coro)` runs `coro` in a task of its own that the RPC's cancellation does not reach.
The service's drain (`RunningService.stop`) waits for such tasks before the process lets go of its
database, so a SIGTERM does not cut them off either. The set is per process, as services are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


async def to_completion(coro: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return await asyncio.shield(task)


async def wait_for_unfinished(seconds: float) -> int:
    """Waits up to `seconds` for the work `to_completion` started; returns how much is still running."""
    if not _running or seconds <= 0:
        return len(_running)
    _, pending = await asyncio.wait(set(_running), timeout=seconds)
    return len(pending)
