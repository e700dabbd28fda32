"""A real gateway on a real 127.0.0.1 port, served as `python -m gateway` serves it (GatewayRunner:
JSON protocol errors, slow-client timeouts), and a raw socket to send it bytes as they are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from gateway.app import create_app
from gateway.conftest import Api, gateway_settings
from gateway.server import GatewayRunner
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory


class GatewayTestServer(TestServer):
    """aiohttp's TestServer with the gateway's own runner (JSON answers to protocol errors)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return GatewayRunner(self.app, **kwargs)


def parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


@dataclass(frozen=True)
class Gateway:
    api: Api
    host: str
    port: int
    admin: str

    async def raw(
        self, request: bytes, *, hang_up: bool = False, half_close: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        """Sends bytes as they are; the status, headers and body of the answer. `hang_up` closes the
        connection at once; `half_close` ends the sending side (EOF) and still reads."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            await writer.drain()
            if hang_up:
                return 0, {}, b""
            if half_close:
                writer.write_eof()
            data = await asyncio.wait_for(reader.read(), timeout=30)
            if not data:
                return 0, {}, b""
        finally:
            writer.close()
        return parse_answer(data)


@asynccontextmanager
async def serve_gateway(platform: Platform, tokens: TokenFactory, **settings: Any) -> AsyncIterator[Gateway]:
    server = GatewayTestServer(create_app(gateway_settings(platform, **settings)), host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            yield Gateway(Api(session, str(server.make_url(""))), "127.0.0.1", server.port, tokens.admin())
    finally:
        await server.close()
