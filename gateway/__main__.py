"""`python -m gateway`: serve the API until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from gateway.app import create_app
from gateway.server import GatewayRunner
from gateway.settings import GatewaySettings, load_settings
from services.kit import logs, setting_names, telemetry
from services.kit.config import ConfigError

log = logging.getLogger("shop.gateway")


async def serve(settings: GatewaySettings) -> None:
    runner = GatewayRunner(create_app(settings), access_log=None, shutdown_timeout=settings.drain_seconds)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, settings.host, settings.port).start()
        except OSError as exc:
            where = f"{settings.host}:{settings.port}"
            raise ConfigError(f"SHOP_GATEWAY_PORT: cannot listen on {where}: {exc.strerror}") from None
        try:
            telemetry.serve_metrics(settings.host, settings.metrics_port)
        except OSError as exc:
            where = f"{settings.host}:{settings.metrics_port}"
            raise ConfigError(
                f"SHOP_GATEWAY_METRICS_PORT: cannot listen on {where}: {exc.strerror}"
            ) from None
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
    try:
        _main()
    except ConfigError as exc:
        raise ConfigError(f"gateway: {exc.code}") from None


def _main() -> None:
    os.umask(0o077)
    settings = load_settings()
    logs.configure("gateway", settings.log_level, settings.log_format)
    setting_names.report_unknown(os.environ, log)
    telemetry.configure_tracing("gateway")
    try:
        asyncio.run(serve(settings))
    finally:
        telemetry.shutdown_tracing()


if __name__ == "__main__":
    main()
