"""Background tasks: stopping one without waiting forever, and saying where one is stuck."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("shop.tasks")

# How long a stop waits for a cancelled task to unwind before leaving it behind.
UNWIND_SECONDS = 10.0


def await_chain(task: asyncio.Task[Any]) -> Iterator[str]:
    """Where a pending task waits, outermost call first. (`Task.get_stack` names only the task's
    own coroutine, not the coroutines it awaits.)"""
    awaited: Any = task.get_coro()
    for _ in range(60):
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            yield f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        if awaited is None:
            return
        if isinstance(awaited, asyncio.Future):
            yield f"waits on {awaited!r}"
            return


async def cancel_and_wait(task: asyncio.Task[Any] | None, within: float = UNWIND_SECONDS) -> None:
    """Cancels a background task and waits until it has finished unwinding, for at most `within`
    seconds: a task whose clean-up never ends (a driver call that outlives its cancellation) must
    not hold the service's stop forever. Such a task is logged with where it waits, and left."""
    if task is None:
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning(
            "background task did not stop when cancelled; leaving it",
            extra={"task": task.get_name(), "waits_at": list(await_chain(task))},
        )
        return
    with contextlib.suppress(asyncio.CancelledError):
        await task
