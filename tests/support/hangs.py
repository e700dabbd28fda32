"""A test that runs close to its timeout prints where every pending asyncio task waits.

pytest-timeout ends a hung test by raising inside the event loop's `select`, which names no
task; the suite's tests all share one loop, so the stacks of its pending tasks are what say
which await never returned."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from services.kit.tasks import await_chain


def _print_pending_tasks() -> None:
    pending = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    print(f"\n=== {len(pending)} pending asyncio tasks ===", file=sys.stderr)
    for task in pending:
        print(f"--- {task.get_name()}", file=sys.stderr)
        try:
            for line in await_chain(task):
                print(f"  {line}", file=sys.stderr)
        except Exception as exc:  # read from another thread while the loop runs: best effort
            print(f"  (unreadable: {exc!r})", file=sys.stderr)


@contextmanager
def reported_if_hung(after_seconds: float) -> Iterator[None]:
    """Prints the pending tasks once if the block is still running after `after_seconds`."""
    timer = threading.Timer(after_seconds, _print_pending_tasks)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
