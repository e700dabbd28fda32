"""`create_app(settings)`: the gateway's aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from gateway import (
    activity,
    auth,
    middlewares,
    openapi,
    product_cache,
    rate_limit,
    security_headers,
    sessions,
    slow_clients,
    throttle,
)
from gateway.routes import ROUTES
from gateway.routing import OPENAPI, SETTINGS, UPSTREAMS, Route, register
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from services.kit.clients import Channels


async def upstreams_ctx(app: web.Application) -> AsyncIterator[None]:
    """The gRPC channels live exactly as long as the app."""
    channels = Channels(app[SETTINGS])
    app[UPSTREAMS] = Upstreams.connect(channels, app[SETTINGS])
    try:
        yield
    finally:
        await channels.close()


def create_app(settings: GatewaySettings, routes: Sequence[Route] = ROUTES) -> web.Application:
    app = web.Application(
        middlewares=[
            middlewares.tracing,
            middlewares.observe,
            middlewares.readable_headers,
            middlewares.cors(settings.cors_origins),
            middlewares.errors,
            rate_limit.limiting,
            slow_clients.body_in_time(settings.http_body_timeout_seconds),
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[OPENAPI] = openapi.document(routes)
    app[sessions.POLICY] = sessions.CookiePolicy(settings.session_cookie_secure, settings.forwarded_hops)
    app.on_response_prepare.append(security_headers.on_prepare(routes))
    app.cleanup_ctx.append(upstreams_ctx)
    app.cleanup_ctx.append(auth.checking(settings))  # before activity, which uses its checker
    app.cleanup_ctx.append(activity.recording(settings))
    app.cleanup_ctx.append(throttle.throttling(settings))
    app.cleanup_ctx.append(product_cache.caching(settings))
    register(app, routes)
    return app
