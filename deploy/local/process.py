"""One child process: its output goes to <data>/logs/<name>.log and, prefixed, to our stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

ExitCallback = Callable[["ChildProcess", int], None]

_MAX_LOG_BYTES = 20 * 1024 * 1024
_MAX_LINE = 64 * 1024
_NAME_WIDTH = 10

_stdout_ok = True


def echo(text: str) -> None:
    """Prints a line to our stdout; a closed stdout must not take the launcher down."""
    global _stdout_ok
    if not _stdout_ok:
        return
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        _stdout_ok = False


def say(text: str) -> None:
    """A message from the launcher itself."""
    echo(f"{'launcher':<{_NAME_WIDTH}} | {text}")


_DIE_WITH_PARENT = str(Path(__file__).with_name("die_with_parent.py"))


def _guarded(argv: Sequence[str]) -> list[str]:
    """argv wrapped so the child dies with the launcher (see die_with_parent.py)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", _DIE_WITH_PARENT, str(os.getpid()), *argv]


class ChildProcess:
    """Start, watch and stop one command. `stopping` tells an expected exit from a crash."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        on_exit: ExitCallback | None = None,
        tail_lines: int = 200,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.on_exit = on_exit
        self.stopping = False
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self.started_at = 0.0
        self._proc: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._exit_task: asyncio.Task[int] | None = None

    def fresh(self) -> ChildProcess:
        """A new, unstarted child with the same command, environment, log and exit callback."""
        return ChildProcess(self.name, self.argv, self.env, self.log_path, on_exit=self.on_exit)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def tail(self, lines: int = 30) -> list[str]:
        """The last lines the child printed (kept in memory)."""
        return list(self._tail)[-lines:]

    async def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists() and self.log_path.stat().st_size > _MAX_LOG_BYTES:
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        # Owner-only, whatever the umask or an older file's bits were: logs name users and orders.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        self._log = os.fdopen(fd, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *_guarded(self.argv),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                # Own process group: Ctrl-C in a terminal reaches only the launcher, which then
                # stops the children in order.
                process_group=0,
            )
        except BaseException:
            self._log.close()
            self._log = None
            raise
        self.started_at = time.monotonic()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"----- {stamp} started pid {self._proc.pid}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self._pump_task = asyncio.create_task(self._pump(), name=f"{self.name}-output")
        self._exit_task = asyncio.create_task(self._watch(), name=f"{self.name}-exit")

    async def _pump(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        stream = self._proc.stdout
        partial = b""
        while chunk := await stream.read(65536):
            if self._log is not None:
                self._log.write(chunk)
                self._log.flush()
            *lines, partial = (partial + chunk).split(b"\n")
            if len(partial) > _MAX_LINE:
                lines.append(partial)
                partial = b""
            for line in lines:
                self._emit(line)
        if partial:
            self._emit(partial)

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self._tail.append(text)
        echo(f"{self.name:<{_NAME_WIDTH}} | {text}")

    async def _watch(self) -> int:
        assert self._proc is not None
        assert self._pump_task is not None
        code = await self._proc.wait()
        # The pipe closes after the exit, unless a grandchild still holds it: don't wait forever.
        done, _ = await asyncio.wait({self._pump_task}, timeout=2.0)
        if not done:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._log is not None:
            self._log.write(f"----- exited with code {code}\n".encode())
            self._log.close()
            self._log = None
        if self.on_exit is not None:
            try:
                self.on_exit(self, code)
            except Exception as exc:  # a bug in a callback must not hide the exit
                say(f"error while handling the exit of {self.name}: {exc!r}")
        return code

    def send_signal(self, sig: int) -> None:
        if self.running and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    def terminate(self) -> None:
        self.stopping = True
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the child's whole process group (it may have started helpers)."""
        self.stopping = True
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self.send_signal(signal.SIGKILL)

    async def wait(self, seconds: float | None = None) -> bool:
        """True once the child has exited and its output is drained; False on timeout."""
        if self._exit_task is None:
            return True
        done, _ = await asyncio.wait({self._exit_task}, timeout=seconds)
        return bool(done)

    async def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit code."""
        self.terminate()
        if not await self.wait(grace):
            echo(f"{self.name:<{_NAME_WIDTH}} | did not stop within {grace:g}s, killing it")
            self.kill()
            await self.wait(5.0)
        return self.returncode
