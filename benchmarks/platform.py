"""What the benchmarks share: a platform started by the real launcher on a port offset, the floor
kit run beside it, and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from deploy.local.supervisor import state_file

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT.parent / "shared" / "floor" / "run.sh"


def run_floor(
    urls: Sequence[str], timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str] | None:
    """../shared/floor/run.sh on `urls` (name=url), its floor servers on a Redis database of their
    own unless FLOOR_REDIS_URL says otherwise; None when the kit is not beside this checkout."""
    if not FLOOR.exists():
        return None
    floor_env = {
        **os.environ,
        "FLOOR_REDIS_URL": os.environ.get("FLOOR_REDIS_URL", "redis://127.0.0.1:6379/12"),
        **(env or {}),
    }
    return subprocess.run(
        ["bash", str(FLOOR), *urls], cwd=ROOT, env=floor_env, capture_output=True, text=True, timeout=timeout
    )


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def launcher(
    data_dir: Path, offset: int, services: str, *, gateway: bool = True, log_level: str = "WARNING"
) -> AsyncIterator[None]:
    """Runs `python -m deploy.local` (embedded Redis, loopback only) until the block ends."""
    env = {
        **os.environ,
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_PORT_OFFSET": str(offset),
        "SHOP_LOG_LEVEL": log_level,
        "SHOP_BIND_HOST": "127.0.0.1",
        "SHOP_GATEWAY_HOST": "127.0.0.1",
    }
    env.pop("SHOP_REDIS_URL", None)
    argv = [sys.executable, "-m", "deploy.local", "--services", services]
    if not gateway:
        argv.append("--no-gateway")
    with (data_dir / "launcher.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            # The launcher's own start-up limit (SHOP_STARTUP_TIMEOUT, 60 s by default) plus its set-up.
            deadline = time.monotonic() + float(os.environ.get("SHOP_STARTUP_TIMEOUT", "60")) + 60
            while not state_file(data_dir).exists():
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the platform did not start; see {data_dir / 'launcher.log'}")
                await asyncio.sleep(0.2)
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 40)
            except TimeoutError:
                proc.kill()
                await proc.wait()
