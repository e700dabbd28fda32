"""The gateway's HTTP server: aiohttp's, except that its own protocol errors answer JSON.

A request aiohttp cannot parse (an over-long request line or header, bad bytes in the URL, a
broken chunked body) never reaches the app or its middlewares: aiohttp answers it itself, as
plain text that echoes the offending input, and logs a traceback. `GatewayRunner` serves the app
with a request handler that answers `{"error": ...}` with a fixed message instead and logs one
line. `python -m gateway` and the tests that run the gateway on a real port use it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.errors import INTERNAL_ERROR, json_error
from gateway.routing import SETTINGS
from gateway.security_headers import harden
from gateway.slow_clients import server_options

log = logging.getLogger("shop.http")

MALFORMED_REQUEST = "Malformed HTTP request"


class JsonErrorHandler(RequestHandler):
    """aiohttp's per-connection handler, answering its own errors as JSON without echoing input."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of an answer is out already: there is no way to send another.
            raise ConnectionError("response already started")
        if status >= 500:
            log.error("unhandled error", exc_info=exc, extra={"status": status})
            text = INTERNAL_ERROR if status == 500 else HTTPStatus(status).phrase
        else:
            # The client sent something that is not HTTP enough to route: its fault, one line.
            log.info("malformed request", extra={"status": status, "reason": type(exc).__name__})
            text = MALFORMED_REQUEST if status == 400 else HTTPStatus(status).phrase
        response = json_error(status, text)
        harden(response)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose connections are handled by `JsonErrorHandler` and time out when slow."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # Slow and idle connections are closed (gateway/slow_clients.py) unless the caller says otherwise.
        kwargs: dict[str, Any] = {**server_options(self.app[SETTINGS]), **server._kwargs}
        return _JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **kwargs,
        )
