"""The test provider's tokenization endpoint: `POST /v1/tokens` exchanges a card for a token.

It stands in for a payment provider's browser SDK (a publishable key, no user login): the browser
sends the card here and gives the shop only the token, so card numbers never reach the gateway or
orders. A token is single-use and short-lived; what is stored is the token, brand, last four
digits, expiry and the test provider's behaviour for that number, never the number or the CVC.

    {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    -> 201 {"token": "tok_...", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}

Bad input is 400 `{"error": ...}`. Nothing here logs a body, or a path a client typed (one log
line per request names the route), and no error message repeats a submitted value.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from sqlalchemy.exc import SQLAlchemyError

from services.kit.errors import DomainError

from . import domain
from .domain import TokenizedCard
from .providers import behaviour_of
from .store import PaymentsStore

log = logging.getLogger("shop.payments.tokens")

# A card is four short fields: anything larger is not one.
MAX_BODY_BYTES = 4096
TOKENS_PATH = "/v1/tokens"
_STORE = web.AppKey("store", PaymentsStore)
Clock = Callable[[], datetime]
_CLOCK: web.AppKey[Clock] = web.AppKey("clock")
_TTL = web.AppKey("ttl", timedelta)


class BadCard(Exception):
    """A 400 answer; the message never contains what was submitted."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _field(data: dict[str, Any], name: str, kind: type[int] | type[str]) -> Any:
    value = data.get(name)
    # bool is an int in Python, not in JSON.
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if kind is int else "a string"
        raise BadCard(f"{name} is required and must be {what}")
    return value


async def _card(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadCard(f"body must be at most {MAX_BODY_BYTES} bytes") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadCard("body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadCard("body must be a JSON object")
    return data


async def create_token(request: web.Request) -> web.Response:
    data = await _card(request)
    number = _field(data, "number", str)
    exp_month = _field(data, "exp_month", int)
    exp_year = _field(data, "exp_year", int)
    cvc = _field(data, "cvc", str)
    now = request.app[_CLOCK]()
    try:
        card = domain.validate_card(number, exp_month, exp_year, cvc, now.date())
    except DomainError as exc:
        raise BadCard(exc.message) from None
    tokenized = TokenizedCard(
        token=f"{domain.TOKEN_PREFIX}{secrets.token_hex(16)}",
        brand=domain.brand_of(card.number),
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        behaviour=behaviour_of(card.number),
    )
    await request.app[_STORE].add_token(tokenized, now, now + request.app[_TTL])
    return web.json_response(
        {
            "token": tokenized.token,
            "brand": tokenized.brand,
            "last4": tokenized.last4,
            "exp_month": tokenized.exp_month,
            "exp_year": tokenized.exp_year,
        },
        status=201,
    )


def _route(request: web.Request) -> str:
    """The matched route's template, never the raw path (a client may put anything there)."""
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        log.info(
            "http request",
            extra={
                "method": request.method,
                "route": _route(request),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadCard as exc:
        return _error(400, str(exc))
    except web.HTTPException as exc:  # unknown path, wrong method
        return _error(exc.status, exc.reason)
    except (SQLAlchemyError, OSError) as exc:
        # The type only: a database error's text carries the statement's parameters.
        log.warning("tokenization storage unavailable", extra={"error": type(exc).__name__})
        return _error(503, "payments storage unavailable")
    except Exception as exc:
        log.error("tokenization failed", extra={"error": type(exc).__name__})
        return _error(500, "internal error")


def _cors(origins: Collection[str]) -> Middleware:
    """Lets the configured shop origins call the endpoint from a browser (the storefront may also
    proxy it same-origin, which needs none of this)."""
    allowed = frozenset(origins)
    anyone = "*" in allowed

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        ok = bool(origin) and (anyone or origin in allowed)
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if preflight and ok:
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if ok:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            if preflight:
                response.headers["Access-Control-Allow-Methods"] = "POST"
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
        return response

    return cors


def create_app(
    store: PaymentsStore,
    clock: Callable[[], datetime],
    ttl: timedelta,
    cors_origins: Collection[str] = (),
) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_observe, _cors(cors_origins), _errors]
    )
    app[_STORE] = store
    app[_CLOCK] = clock
    app[_TTL] = ttl
    app.router.add_post(TOKENS_PATH, create_token)
    return app
