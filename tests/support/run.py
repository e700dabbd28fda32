"""What identifies this test run on shared servers (a PostgreSQL database name, Redis key prefixes)."""

from __future__ import annotations

import uuid

RUN_ID = uuid.uuid4().hex[:10]


def redis_prefix(kind: str) -> str:
    """The key prefix of this run's `kind` of platform ("test", "e2e") on a shared Redis."""
    return f"shop-{kind}-{RUN_ID}:"
