"""The local launcher's parts that stand alone, tried for real: keys, ports, embedded Redis, children."""

from __future__ import annotations

import asyncio
import socket
import stat
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from deploy.local.keys import ensure_admin_password, ensure_keys
from deploy.local.ports import DEFAULT_SERVICES, SERVICES, port_table
from deploy.local.process import ChildProcess
from deploy.local.redis_server import EmbeddedRedis
from deploy.local.supervisor import busy_ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keys ------------------------------------------------------------------------------------


def test_keys_are_made_once_and_kept(tmp_path: Path) -> None:
    first = ensure_keys(tmp_path)
    private_pem = first.private_key.read_bytes()
    public_pem = first.public_key.read_bytes()
    secret = first.service_secret.read_text()

    assert first.private_key == tmp_path / "keys" / "auth_private.pem"
    assert first.public_key == tmp_path / "keys" / "auth_public.pem"
    assert mode(first.private_key) == 0o600
    assert mode(first.service_secret) == 0o600
    assert len(secret) >= 32

    private = serialization.load_pem_private_key(private_pem, password=None)
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    public.verify(private.sign(b"token"), b"token")  # the pair belongs together

    second = ensure_keys(tmp_path)
    assert second == first
    assert second.private_key.read_bytes() == private_pem
    assert second.public_key.read_bytes() == public_pem
    assert second.service_secret.read_text() == secret


def test_lost_public_key_is_rebuilt_from_the_private_one(tmp_path: Path) -> None:
    files = ensure_keys(tmp_path)
    public_pem = files.public_key.read_bytes()
    files.public_key.unlink()
    ensure_keys(tmp_path)
    assert files.public_key.read_bytes() == public_pem


def test_admin_password_is_made_once(tmp_path: Path) -> None:
    password = ensure_admin_password(tmp_path)
    assert len(password) >= 16
    assert mode(tmp_path / "admin_password") == 0o600
    assert ensure_admin_password(tmp_path) == password


# --- ports -----------------------------------------------------------------------------------


def test_default_ports() -> None:
    table = port_table()
    assert (table.gateway_http, table.gateway_metrics, table.redis) == (5000, 9100, 6380)
    assert (table.services["auth"].grpc, table.services["auth"].metrics) == (16051, 9101)
    assert (table.services["content"].grpc, table.services["content"].metrics) == (16061, 9111)
    assert list(SERVICES) == [
        "auth", "catalog", "profile", "cart", "inventory", "orders",
        "payments", "shipping", "reviews", "activity", "content",
    ]  # fmt: skip
    assert tuple(SERVICES) == DEFAULT_SERVICES
    assert table.api_url == "http://localhost:5000/api"
    assert table.services["payments"].http == 5001
    assert table.tokens_url == "http://localhost:5001/v1/tokens"
    assert port_table(7).all_ports()["payments http"] == 5008


@pytest.mark.parametrize("offset", [0, 1, 1000])
def test_offset_shifts_every_port_and_none_repeat(offset: int) -> None:
    base = port_table(0).all_ports()
    shifted = port_table(offset).all_ports()
    assert shifted.keys() == base.keys()
    assert all(shifted[label] == port + offset for label, port in base.items())
    assert len(set(shifted.values())) == len(shifted)


def test_addresses_env_covers_every_service() -> None:
    env = port_table(100).addresses_env()
    assert len(env) == len(SERVICES)
    assert env["SHOP_CATALOG_ADDR"] == "127.0.0.1:16152"
    assert env["SHOP_CONTENT_ADDR"] == "127.0.0.1:16161"


def test_offset_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="SHOP_PORT_OFFSET"):
        port_table(60000)


def test_busy_ports_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        free = free_port()
        assert busy_ports({"taken": taken, "free": free}) == {"taken": taken}


# --- child processes -------------------------------------------------------------------------


async def test_child_output_goes_to_log_and_tail(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "echo.log"
    exits: list[int] = []
    script = "import sys; print('hello', flush=True); print('oops', file=sys.stderr); sys.exit(3)"
    child = ChildProcess(
        "echo", [sys.executable, "-c", script], {}, log, on_exit=lambda c, code: exits.append(code)
    )
    await child.start()
    assert await child.wait(10)
    assert child.returncode == 3
    assert exits == [3]
    assert child.tail() == ["hello", "oops"]
    text = log.read_text()
    assert "hello\noops\n" in text
    assert "exited with code 3" in text


async def test_child_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    child = ChildProcess("stubborn", [sys.executable, "-c", script], {}, tmp_path / "stubborn.log")
    await child.start()
    while child.tail() != ["up"]:
        assert await child.wait(0.05) is False
    code = await child.stop(grace=0.5)
    assert code == -9
    assert not child.running


# --- embedded Redis --------------------------------------------------------------------------


async def test_embedded_redis_keeps_data_across_restart(tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port)
    await server.start(30)
    try:
        client = aioredis.from_url(server.url)
        assert await client.ping()
        await client.set("launcher-test:cart", "3 apples")
        await client.aclose()
    finally:
        await server.stop()
    assert not server.process.running
    assert (tmp_path / "logs" / "redis.log").stat().st_size > 0
    assert any((tmp_path / "redis").iterdir())  # the append-only files

    again = EmbeddedRedis(tmp_path, port)
    await again.start(30)
    try:
        client = aioredis.from_url(again.url)
        assert await client.get("launcher-test:cart") == b"3 apples"
        await client.aclose()
    finally:
        await again.stop()

    client = aioredis.from_url(again.url, socket_connect_timeout=1)
    with pytest.raises(RedisConnectionError):
        await client.ping()
    await client.aclose()


async def test_embedded_redis_wants_its_password_and_listens_on_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port)
    await server.start(30)
    try:
        stranger = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
        with pytest.raises(RedisError, match=r"(?i)auth"):
            await stranger.ping()
        await stranger.aclose()
        guesser = aioredis.Redis(host="127.0.0.1", port=port, password="guess", socket_connect_timeout=2)
        with pytest.raises(RedisError, match=r"(?i)password"):
            await guesser.ping()
        await guesser.aclose()
        client = aioredis.from_url(server.url, decode_responses=True)
        assert await client.ping()
        assert (await client.config_get("bind"))["bind"] == "127.0.0.1"
        assert (await client.config_get("protected-mode"))["protected-mode"] == "yes"
        await client.aclose()
    finally:
        await server.stop()
    password_file = tmp_path / "keys" / "redis_password"
    assert mode(password_file) == 0o600
    assert password_file.read_text() in server.url
    assert mode(tmp_path / "redis" / "valkey.conf") == 0o600
    # The password is not on the server's command line, which every local user can read.
    assert password_file.read_text() not in " ".join(server.process.argv)
    # A restart keeps the password, so clients holding the URL reconnect.
    assert EmbeddedRedis(tmp_path, port).url == server.url


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
async def test_children_die_with_a_killed_launcher(tmp_path: Path) -> None:
    """SIGKILL of the launcher leaves no service running on in the background."""
    launcher = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from deploy.local.process import ChildProcess\n"
        "async def main():\n"
        "    child = ChildProcess('sleeper', [sys.executable, '-c', 'import os, time; "
        "print(os.getpid(), flush=True); time.sleep(60)'], {}, Path(sys.argv[1]))\n"
        "    await child.start()\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    log = tmp_path / "sleeper.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", launcher, str(log), cwd=Path(__file__).parents[2]
    )
    try:
        child_pid = await _first_pid_in(log, seconds=15)
        assert _alive(child_pid)
    finally:
        proc.kill()
        await proc.wait()
    for _ in range(100):
        if not _alive(child_pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(child_pid), "the child outlived its launcher"


async def _first_pid_in(log: Path, seconds: float) -> int:
    for _ in range(int(seconds / 0.05)):
        if pids := _pids_in(log):
            return pids[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the child never printed its pid")


def _pids_in(log: Path) -> list[int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(line) for line in lines if line.strip().isdigit()]


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for its (dead) parent's reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
