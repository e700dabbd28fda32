"""`python -m gateway`: serve the API until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from gateway.app import create_app
from gateway.server import GatewayRunner
from gateway.settings import GatewaySettings, load_settings
from services.kit import logs, telemetry

log = logging.getLogger("shop.gateway")


async def serve(settings: GatewaySettings) -> None:
    runner = GatewayRunner(create_app(settings), access_log=None, shutdown_timeout=settings.drain_seconds)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        telemetry.serve_metrics(settings.host, settings.metrics_port)
        log.info("serving", extra={"host": settings.host, "port": settings.port})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("draining", extra={"grace_seconds": settings.drain_seconds})
    finally:
        await runner.cleanup()
    log.info("stopped")


def main() -> None:
    settings = load_settings()
    logs.configure("gateway", settings.log_level, settings.log_format)
    telemetry.configure_tracing("gateway")
    try:
        asyncio.run(serve(settings))
    finally:
        telemetry.shutdown_tracing()


if __name__ == "__main__":
    main()
