"""`python -m gateway` as the launcher runs it: settings from the environment, metrics off the
public port, a clean stop on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.polling import eventually
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


async def _wait_ok(session: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process) -> str:
    """The body of `url` once it answers 200 (the gateway may still be starting)."""

    async def body() -> str | None:
        assert proc.returncode is None, "the gateway exited during start-up"
        try:
            async with session.get(url) as response:
                return await response.text() if response.status == 200 else None
        except aiohttp.ClientConnectionError:
            return None

    text = await eventually(body, lambda got: got is not None, interval=0.1)
    assert text is not None
    return text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serves_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port, metrics_port = free_port(), free_port()
    # The gateway reads its service secret at start-up (a missing one stops it with a message).
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "service_secret").write_text("secret")
    env = {
        **os.environ,
        "SHOP_GATEWAY_PORT": str(port),
        "SHOP_GATEWAY_METRICS_PORT": str(metrics_port),
        "SHOP_DATA_DIR": str(tmp_path),
        "SHOP_LOG_FORMAT": "json",
        "SHOP_SERVICE_NAME": "gateway",  # what the launcher sets; the gateway ignores it
        "OTEL_TRACES_EXPORTER": "none",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as session:
            body = await _wait_ok(session, f"http://127.0.0.1:{port}/api/health", proc)
            assert json.loads(body) == {"status": "ok"}
            metrics = await _wait_ok(session, f"http://127.0.0.1:{metrics_port}/metrics", proc)
            assert 'shop_http_requests_total{method="GET",route="/api/health",status="200"}' in metrics
            async with session.get(f"http://127.0.0.1:{port}/metrics") as public:
                assert public.status == 404
        proc.send_signal(sig)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    log = stderr.decode()
    assert '"msg": "request"' in log
    assert '"route": "/api/health"' in log
    assert '"msg": "stopped"' in log


def test_a_missing_service_secret_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, "SHOP_DATA_DIR": str(tmp_path), "SHOP_GATEWAY_PORT": str(free_port())}
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "SHOP_SERVICE_SECRET_FILE" in done.stderr
