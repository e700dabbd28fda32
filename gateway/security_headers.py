"""The headers every gateway answer carries, errors included.

- `X-Content-Type-Options: nosniff`: a browser takes an answer for what its Content-Type says (an
  uploaded "image" or an error echoing input is never run as a script or page).
- `Cache-Control: no-store` on everything but a public read made without a token: tokens, personal
  data and anything answered to a signed-in caller are kept by no browser or proxy cache.
- `Server: shop` in place of aiohttp's `Python/3.x aiohttp/3.x` (no versions for an attacker to match).

App answers get them from the `on_response_prepare` signal; aiohttp's own protocol errors, which
never reach the app, from `gateway/server.py` calling `harden` itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import hdrs, web

from gateway.middlewares import route_template
from gateway.routing import Route

SERVER_NAME = "shop"
NO_STORE = "no-store"

PrepareHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def harden(response: web.StreamResponse, *, private: bool = True) -> None:
    response.headers[hdrs.X_CONTENT_TYPE_OPTIONS] = "nosniff"
    # aiohttp only fills Server in when none is set.
    response.headers[hdrs.SERVER] = SERVER_NAME
    if private:
        response.headers[hdrs.CACHE_CONTROL] = NO_STORE


def on_prepare(routes: Sequence[Route]) -> PrepareHook:
    """The signal handler: `no-store` unless the answer is a public route's read without a token."""
    public_reads = frozenset(r.full_path for r in routes if r.method == "GET" and r.auth == "public")

    async def prepare(request: web.Request, response: web.StreamResponse) -> None:
        public = (
            request.method in (hdrs.METH_GET, hdrs.METH_HEAD)
            and hdrs.AUTHORIZATION not in request.headers
            and route_template(request) in public_reads
        )
        harden(response, private=not public)

    return prepare
