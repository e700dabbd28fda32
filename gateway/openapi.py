"""The OpenAPI 3.1 document, generated from the route table and the pydantic models' JSON schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.models import INT64_MAX, ErrorBody
from gateway.routing import (
    FILE_PARAM,
    FILE_PATTERN,
    NEXT_PAGE_HEADER,
    REF_PARAM,
    SLUG_PARAM,
    SLUG_PATTERN,
    FileBody,
    Route,
)

REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"
# Browsers: the session cookie of POST /api/auth/session/ instead of a bearer token (gateway/sessions.py).
COOKIE_SCHEME = "sessionCookie"

_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
_SLUG_SCHEMA = {"type": "string", "pattern": f"^{SLUG_PATTERN}$"}
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    SLUG_PARAM: _SLUG_SCHEMA,
    REF_PARAM: {**_SLUG_SCHEMA, "description": "The id (all digits) or the slug"},
    FILE_PARAM: {"type": "string", "pattern": f"^{FILE_PATTERN}$"},
}

# Every route that reaches a service can meet these.
_UPSTREAM_FAILURES = (500, 503, 504)
PAGE_TOKEN = "page_token"

_ERROR_DESCRIPTIONS = {
    400: "Invalid input (the message names the field)",
    401: "Missing, invalid, expired or revoked bearer token",
    403: "Not allowed for this caller",
    404: "No such resource, or not the caller's",
    409: "Conflicts with the current state",
    413: "Request body too large",
    429: "Too many requests from this client, or attempts on this account: retry after Retry-After seconds",
    500: "Internal error",
    503: "A service behind the gateway is unavailable",
    504: "A service behind the gateway timed out",
}


def _error_statuses(route: Route) -> list[int]:
    statuses = set(route.errors)
    if route.request is not None or route.upload:
        statuses |= {400, 413}
    if route.query is not None:
        statuses.add(400)
    if route.path_params:
        statuses.add(404)
    if route.auth != "public":
        statuses.add(401)
    if route.auth == "admin":
        statuses.add(403)
    if route.tags != ("meta",):
        statuses |= set(_UPSTREAM_FAILURES)
    if route.path != "/health":  # the per-client rate limit (gateway/rate_limit.py), when on
        statuses.add(429)
    return sorted(statuses)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if name == PAGE_TOKEN:
            # Opaque, from the previous page's X-Next-Page-Token: base64url without padding.
            prop["pattern"] = "^[A-Za-z0-9_-]*$"
            description = description or "The X-Next-Page-Token of the previous page; empty: the first page"
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _responses(route: Route, schemas: Mapping[tuple[Any, JsonSchemaMode], Any]) -> dict[str, Any]:
    """The route's success response (body, next-page header) and its error responses."""
    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    if route.response is FileBody:
        success["content"] = {"image/*": {"schema": {"type": "string", "format": "binary"}}}
    elif route.response is not None:
        success["content"] = {"application/json": {"schema": schemas[(route.response, "serialization")]}}
    if route.paged:
        success["headers"] = {
            NEXT_PAGE_HEADER: {
                "description": "The page_token of the next page; absent on the last page",
                "schema": {"type": "string"},
            }
        }
    responses: dict[str, Any] = {str(route.status): success}
    error_ref = schemas[(ErrorBody, "serialization")]
    for status in _error_statuses(route):
        responses[str(status)] = {
            "description": _ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {"application/json": {"schema": error_ref}},
        }
        if status == 429:
            responses["429"]["headers"] = {
                "Retry-After": {
                    "description": "Seconds until a retry may pass",
                    "schema": {"type": "integer"},
                }
            }
    return responses


def _operation(route: Route, schemas: Mapping[tuple[Any, JsonSchemaMode], Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _PATH_SCHEMAS.get(name, _ID_SCHEMA),
        }
        for name in route.path_params
    ]
    parameters += [
        {
            "name": h.name,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": h.description,
        }
        for h in route.headers
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query)

    responses = _responses(route, schemas)

    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": list(route.tags),
        "responses": responses,
        "security": [{SECURITY_SCHEME: []}, {COOKIE_SCHEME: []}] if route.auth != "public" else [],
    }
    if route.auth == "admin":
        operation["description"] = "Admin role required."
    if parameters:
        operation["parameters"] = parameters
    if route.upload:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in route.upload},
        }
    if route.request is not None:
        operation["requestBody"] = {
            "required": not route.request_optional,
            "content": {"application/json": {"schema": schemas[(route.request, "validation")]}},
        }
    return operation


def document(routes: Sequence[Route], *, version: str = "1.0.0") -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorBody, "serialization")
    ]
    for route in routes:
        if route.request is not None:
            wanted.append((route.request, "validation"))
        if route.response is not None and route.response is not FileBody:
            wanted.append((route.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    schemas, definitions = models_json_schema(unique, ref_template=REF_TEMPLATE)

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.full_path, {})[route.method.lower()] = _operation(route, schemas)

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shop API",
            "version": version,
            "description": (
                "The e-commerce platform's public API. Every path also answers without (or with) its "
                'trailing slash. Errors are `{"error": "..."}`. Prices are numbers in the shop\'s '
                "currency with at most 2 decimals."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(t for r in routes for t in r.tags)],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                COOKIE_SCHEME: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "shop_session",
                    "description": (
                        "A browser session (`__Host-shop_session` over https), set by POST "
                        "/api/auth/session/. Used only when no Authorization header is sent. A state "
                        "change (not GET) must come from the same origin and carry the session's "
                        "`csrf_token` in the X-CSRF-Token header, or it is refused with 403."
                    ),
                },
            },
        },
    }
