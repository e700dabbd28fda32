"""`python -m deploy.local.storefront`: serves the built shop (frontend/dist) and proxies its APIs.

One origin for the browser: `/api/...` goes to the gateway and `/provider/...` to the payment
provider's tokenization server (path kept without the `/provider` prefix), so card data goes from the
browser to the provider and never through `/api`. Every other path that is not a file gets
`index.html` (client-side routes). Settings come from the environment:
SHOP_STOREFRONT_PORT, SHOP_STOREFRONT_HOST (127.0.0.1; the image listens on every interface),
SHOP_STOREFRONT_DIST, SHOP_STOREFRONT_API_URL, SHOP_STOREFRONT_PROVIDER_URL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones aiohttp sets itself.
_SKIP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}
SESSION = web.AppKey("session", aiohttp.ClientSession)
# The built pages load only their own scripts and styles and talk only to this origin; images may
# come from elsewhere (banners, posts). No framing (clickjacking).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_MAX_BODY = 2 * 1024 * 1024
# In place of aiohttp's "Python/3.x aiohttp/3.x" (and the gateway's, passed on): no versions to match.
SERVER_NAME = "shop"


async def _harden(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer (files, proxied ones, aiohttp's own 404/405) is taken for its declared type only."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = SERVER_NAME


def _proxy(prefix: str, upstream: str, strip: str) -> web.RouteDef:
    """Forwards `prefix*` to `upstream`, removing `strip` from the front of the path."""

    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path_qs[len(strip) :] or "/"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}
        headers["X-Forwarded-For"] = request.remote or ""
        # The browser's Host, as a reverse proxy keeps it: the gateway compares it with the Origin
        # of a cookie-authenticated state change (CSRF check).
        headers["Host"] = request.host
        body = await request.read()
        try:
            async with request.app[SESSION].request(
                request.method, upstream + path, headers=headers, data=body or None, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                # A multidict: an answer may set several cookies (one Set-Cookie header each).
                out = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in _SKIP)
                return web.Response(status=answer.status, body=payload, headers=out)
        except (aiohttp.ClientError, TimeoutError):
            return web.json_response({"error": f"{prefix} is unavailable"}, status=502)

    return web.route("*", prefix + "{tail:.*}", handler)


def create_app(dist: Path, api_url: str, provider_url: str) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY)
    index = dist / "index.html"

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        # Checkout may take the gateway's 30 s deadline; stay above it.
        app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), auto_decompress=True)
        yield
        await app[SESSION].close()

    # The build is fixed while we run: list its files once (no path ever reaches the file system).
    files = {p.relative_to(dist).as_posix(): p for p in dist.rglob("*") if p.is_file()}

    async def static(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail in files:
            # Hashed asset names never change content: cache them; index.html always revalidates.
            cache = "public, max-age=31536000, immutable" if tail.startswith("assets/") else "no-cache"
            return web.FileResponse(files[tail], headers={**PAGE_HEADERS, "Cache-Control": cache})
        if tail.startswith("assets/"):
            return web.Response(status=404, text="not found")
        return web.FileResponse(index, headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})

    app.cleanup_ctx.append(session_ctx)
    app.on_response_prepare.append(_harden)
    app.add_routes(
        [
            _proxy("/api/", api_url.rstrip("/"), ""),
            _proxy("/provider/", provider_url.rstrip("/"), "/provider"),
            web.get("/{tail:.*}", static),
        ]
    )
    return app


def main() -> None:
    env = os.environ
    dist = Path(env.get("SHOP_STOREFRONT_DIST", "frontend/dist")).resolve()
    if not (dist / "index.html").is_file():
        raise SystemExit(f"storefront: {dist}/index.html is missing; build the frontend (make run does)")
    port = int(env.get("SHOP_STOREFRONT_PORT", "3000"))
    api = env.get("SHOP_STOREFRONT_API_URL", "http://127.0.0.1:5000")
    provider = env.get("SHOP_STOREFRONT_PROVIDER_URL", "http://127.0.0.1:5001")
    host = env.get("SHOP_STOREFRONT_HOST", "127.0.0.1")
    web.run_app(create_app(dist, api, provider), host=host, port=port, print=None)


if __name__ == "__main__":
    main()
