"""An HTTP API served by a service beside its gRPC one (payments' card tokenization), on the
service's lifecycle: `port = await http.serve(runtime, "tokens", app, settings.x_http_port)`.

0 picks a free port; the bound one is returned and kept in `runtime.http_ports[name]` (tests read
it there). The server stops with the service. aiohttp's access log is off: the app logs its own
requests (what it may log is the app's business; request bodies never are).
"""

from __future__ import annotations

import logging

from aiohttp import web

from services.kit.config import ConfigError
from services.kit.server import Runtime

log = logging.getLogger("shop.http")


async def serve(runtime: Runtime, name: str, app: web.Application, port: int) -> int:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    runtime.stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, runtime.settings.bind_host, port)
    try:
        await site.start()
    except OSError as exc:
        setting = f"SHOP_{runtime.settings.service_name.upper()}_HTTP_PORT"
        raise ConfigError(
            f"{setting}: cannot listen on {runtime.settings.bind_host}:{port}: {exc.strerror}"
        ) from None
    bound: int = runner.addresses[-1][1]
    runtime.http_ports[name] = bound
    log.info("serving http", extra={"api": name, "port": bound})
    return bound
