"""The deadline of the RPC being served, so outbound calls made while serving it inherit it."""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("shop_deadline", default=None)


def set_deadline(monotonic_deadline: float) -> contextvars.Token[float | None]:
    return _deadline.set(monotonic_deadline)


def reset_deadline(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def remaining(default: float) -> float:
    """Seconds an outbound call may take: the default, capped by the current RPC's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.001, min(default, deadline - time.monotonic()))
