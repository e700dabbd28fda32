"""One way for tests to wait on something that happens in another process: poll until it holds.

Bounds are generous (a busy 2-core CI machine runs every service beside the test); a test that
passes waits only as long as the thing takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

T = TypeVar("T")


def _truthy(value: object) -> bool:
    return bool(value)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = _truthy,
    *,
    within: float = 30.0,
    interval: float = 0.05,
) -> T:
    """Call `probe` until `done(value)` (by default: until it returns something truthy) and return
    that value; fail with the last value seen after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {within:g} s"
        await asyncio.sleep(interval)


async def once_available(call: Callable[[], Awaitable[T]], *, within: float = 30.0) -> T:
    """Make `call` (a gRPC call) until it answers with anything but UNAVAILABLE, and return its
    answer: for a service that was just restarted, or whose callers wait out a reconnect backoff.
    Any other error is raised at once."""

    async def attempt() -> tuple[bool, T | None]:
        try:
            return True, await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return False, None

    answered, reply = await eventually(attempt, lambda outcome: outcome[0], within=within, interval=0.2)
    assert answered
    return reply  # type: ignore[return-value]  # answered, so reply is the call's T
