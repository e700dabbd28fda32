"""CPU time of a process (all its threads) from /proc/<pid>/stat, for CPU-per-request figures."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (10 ms resolution on most kernels)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces: the fields that follow start after its closing ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * _TICK


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def per_request_ms(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU each process spent per request between two snapshots."""
    return {name: 1000 * (after[name] - before[name]) / requests for name in before}
