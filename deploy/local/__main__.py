"""`python -m deploy.local [--services auth,catalog] [--no-gateway]`: run the platform until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import traceback
from collections.abc import Sequence

from deploy.local.process import echo, say
from deploy.local.settings import Settings, SettingsError, load_settings
from deploy.local.supervisor import Platform, StartupError


async def run(settings: Settings) -> int:
    """Starts everything, waits for SIGINT/SIGTERM, stops everything. 0 on a requested stop."""
    platform = Platform(settings)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop_requested.is_set():
            say(f"{sig.name} again: killing everything now")
            platform.kill_all()
            return
        say(f"{sig.name} received, stopping")
        stop_requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    code = 0
    startup = asyncio.create_task(platform.start(), name="startup")
    stopper = asyncio.create_task(stop_requested.wait(), name="stop-requested")
    try:
        await asyncio.wait({startup, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await startup
        elif (error := startup.exception()) is not None:
            code = 1
            if isinstance(error, StartupError):
                say(f"FAILED TO START: {error}")
            else:
                say("FAILED TO START: unexpected error")
                echo("".join(traceback.format_exception(error)).rstrip())
            say("stopping what was started")
        else:
            echo(platform.banner())
            await stopper
    finally:
        stopper.cancel()
        await platform.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    say("stopped" if code == 0 else "stopped after a failed start")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        print(f"deploy.local: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
