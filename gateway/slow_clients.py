"""Slow and idle clients are cut off, so a few sockets cannot hold the gateway's connections forever.

- Nothing sent, request line or headers trickled, or idle between requests: aiohttp's keep-alive
  timer (`keepalive_timeout`, started when the connection opens and after each answer) closes a
  connection still waiting for a whole request after `SHOP_HTTP_IDLE_TIMEOUT_SECONDS`.
- Body trickled: `body_in_time` answers 408 (and closes the connection) when the body has not all
  arrived `SHOP_HTTP_BODY_TIMEOUT_SECONDS` after the headers, however the handler reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import json_error
from gateway.settings import GatewaySettings

BODY_TOO_SLOW = "Request body not received in time"
# After an answer that did not read the whole body, what is left is read and dropped for at most
# this long (so the client sees the answer) before the connection closes; aiohttp's default is 10 s.
LINGERING_SECONDS = 2.0


def server_options(settings: GatewaySettings) -> dict[str, Any]:
    """The aiohttp server (web.Server / RequestHandler) arguments that bound slow connections."""
    return {"keepalive_timeout": settings.http_idle_timeout_seconds, "lingering_time": LINGERING_SECONDS}


def body_in_time(seconds: float) -> Middleware:
    @web.middleware
    async def body_in_time_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        handling = True

        def body_complete() -> None:
            # The body may end after the answer (a handler that did not read it): nothing to lift then.
            if handling:
                deadline.reschedule(None)

        try:
            async with asyncio.timeout(seconds) as deadline:
                # Once the whole body is in (aiohttp's parser reached its end), the handler has as
                # long as it needs; until then the deadline stands, however the handler reads it.
                request.content.on_eof(body_complete)
                return await handler(request)
        except TimeoutError:
            if not deadline.expired():
                raise
            response = json_error(408, BODY_TOO_SLOW)
            response.force_close()
            return response
        finally:
            handling = False

    return body_in_time_middleware
