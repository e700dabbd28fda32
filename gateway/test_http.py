"""HTTP behaviour every route shares: slashes, errors as JSON, tokens, bodies, CORS, metrics, OpenAPI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client import REGISTRY

from gateway.conftest import CORS_ORIGIN, Api, User
from gateway.routes import ROUTES
from gateway.routing import Route
from tests.support.harness import Platform
from tests.support.tokens import TokenFactory

SERVICES = ("auth", "catalog", "inventory", "cart", "payments", "orders", "reviews")
BODY_ROUTES = [r for r in ROUTES if r.request is not None]
GUARDED_ROUTES = [r for r in ROUTES if r.auth != "public"]
ADMIN_ROUTES = [r for r in ROUTES if r.auth == "admin"]


def _url(route: Route, ident: int = 1, *, slash: bool | None = None) -> str:
    path = re.sub(r"\{\w+\}", str(ident), route.full_path)
    if slash is None:
        return path
    return path.rstrip("/") + ("/" if slash else "")


def _id(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture(scope="module", autouse=True)
async def services(platform: Platform) -> None:
    for name in SERVICES:
        await platform.start(name)


@pytest.mark.parametrize("path", ["/api/health", "/api/health/"])
async def test_health_with_and_without_slash(api: Api, path: str) -> None:
    reply = await api.get(path)
    assert (reply.status, reply.body) == (200, {"status": "ok"})
    assert reply.headers["X-Request-Id"]


async def test_request_id_is_echoed(api: Api) -> None:
    reply = await api.get("/api/health", headers={"X-Request-Id": "abc-123"})
    assert reply.headers["X-Request-Id"] == "abc-123"
    odd = await api.get("/api/health", headers={"X-Request-Id": "bad id\u00e9"})
    assert odd.headers["X-Request-Id"] != "bad id\u00e9"


@pytest.mark.parametrize(
    "path",
    ["/api/nope", "/nope", "/", "/api/products/abc", "/api/products/0", f"/api/products/{2**63}", "/api/"],
)
async def test_unknown_paths_are_json_404(api: Api, path: str) -> None:
    reply = await api.get(path)
    assert (reply.status, reply.body) == (404, {"error": "Not Found"})


async def test_wrong_method_is_json_405(api: Api) -> None:
    reply = await api.call("PATCH", "/api/products/")
    assert (reply.status, reply.body) == (405, {"error": "Method Not Allowed"})
    assert set(reply.headers["Allow"].split(",")) == {"GET", "POST"}
    assert (await api.delete("/api/health")).status == 405


@pytest.mark.parametrize("route", ROUTES, ids=_id)
@pytest.mark.parametrize("slash", [True, False])
async def test_every_route_answers_with_and_without_slash(
    api: Api, admin: User, route: Route, slash: bool
) -> None:
    # No redirects: the route itself answers (a 404 here would be "no such id", never "no such path").
    token = admin.token
    if route.operation_id == "logout":  # keep the shared admin token alive
        token = (await api.post("/api/auth/login/", {"email": admin.email, "password": admin.password})).body[
            "token"
        ]
    if route.operation_id == "delete_account":  # deletes the caller: never the shared admin
        token = (await api.register()).token
    reply = await api.call(route.method, _url(route, 2**62, slash=slash), token=token)
    assert reply.status not in (301, 302, 307, 308, 405, 500), reply
    if reply.status == 404:
        assert reply.body["error"] != "Not Found" or not route.path_params, reply


@pytest.mark.parametrize("route", GUARDED_ROUTES, ids=_id)
async def test_missing_token_is_401(api: Api, route: Route) -> None:
    reply = await api.call(route.method, _url(route))
    assert (reply.status, reply.body) == (401, {"error": "Authentication required"})
    assert reply.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["garbage", "expired", "foreign", "basic", "empty-bearer", "service"])
@pytest.mark.parametrize("route", GUARDED_ROUTES, ids=_id)
async def test_bad_tokens_are_401(api: Api, tokens: TokenFactory, route: Route, kind: str) -> None:
    header = {
        "garbage": "Bearer not.a.jwt",
        "expired": f"Bearer {tokens.expired(1)}",
        "foreign": f"Bearer {tokens.foreign(1)}",
        "basic": "Basic dXNlcjpwYXNz",
        "empty-bearer": "Bearer ",
        "service": f"Bearer {tokens.service('orders')}",
    }[kind]
    reply = await api.call(route.method, _url(route), headers={"Authorization": header})
    assert (reply.status, reply.body) == (401, {"error": "Invalid or expired token"})


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=_id)
async def test_customers_get_403_on_admin_routes(api: Api, customer: User, route: Route) -> None:
    reply = await api.call(
        route.method, _url(route), {"stock": 1, "name": "x", "price": 1}, token=customer.token
    )
    assert (reply.status, reply.body) == (403, {"error": "Admin role required"})


async def test_a_logged_out_token_stops_working_at_once(api: Api) -> None:
    someone = await api.register()
    assert (await api.get("/api/auth/me/", token=someone.token)).status == 200
    reply = await api.post("/api/auth/logout/", token=someone.token)
    assert (reply.status, reply.body) == (200, {"message": "Logged out"})
    for path in ("/api/auth/me/", "/api/cart/", "/api/orders/"):
        again = await api.get(path, token=someone.token)
        assert (again.status, again.body) == (401, {"error": "Invalid or expired token"})


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("malformed", {"data": "{not json"}),
    ("truncated", {"data": '{"a": 1'}),
    ("array", {"data": "[1, 2]"}),
    ("string", {"data": '"text"'}),
    ("number", {"data": "42"}),
    ("null", {"data": "null"}),
    ("nan", {"data": '{"price": NaN, "stock": NaN, "quantity": NaN, "rating": NaN}'}),
    ("not utf-8", {"data": b'{"name": "\xff\xfe"}'}),
]


def _token_for(route: Route, user: User, admin: User) -> str | None:
    return {"public": None, "user": user.token, "admin": admin.token}[route.auth]


@pytest.mark.parametrize("bad", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
@pytest.mark.parametrize("route", BODY_ROUTES, ids=_id)
async def test_unusable_bodies_are_400(
    api: Api, customer: User, admin: User, route: Route, bad: tuple[str, dict[str, Any]]
) -> None:
    reply = await api.call(
        route.method,
        _url(route),
        token=_token_for(route, customer, admin),
        headers={"Content-Type": "application/json"},
        **bad[1],
    )
    assert reply.status == 400, reply
    assert set(reply.body) == {"error"}
    assert reply.body["error"]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("route", BODY_ROUTES, ids=_id)
async def test_huge_bodies_are_413(
    api: Api, customer: User, admin: User, route: Route, chunked: bool
) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    async def stream() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    token = _token_for(route, customer, admin)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    async with api.client.request(
        route.method, _url(route), data=stream() if chunked else big, headers=headers
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"].startswith("Request body too large")


@pytest.mark.parametrize("route", [r for r in BODY_ROUTES if not r.request_optional], ids=_id)
async def test_missing_bodies_are_400(api: Api, customer: User, admin: User, route: Route) -> None:
    reply = await api.call(route.method, _url(route), token=_token_for(route, customer, admin))
    assert reply.status == 400, reply
    assert reply.body == {"error": "Request body required: a JSON object"}


@pytest.mark.parametrize("route", [r for r in BODY_ROUTES if not r.request_optional], ids=_id)
async def test_empty_objects_name_a_missing_field(
    api: Api, customer: User, admin: User, route: Route
) -> None:
    reply = await api.call(route.method, _url(route), {}, token=_token_for(route, customer, admin))
    assert reply.status == 400, reply
    assert re.search(r"\w+: |at least one of", reply.body["error"]), reply.body


async def test_cors_for_configured_origins(api: Api) -> None:
    preflight = await api.call(
        "OPTIONS",
        "/api/cart/",
        headers={
            "Origin": CORS_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

    simple = await api.get("/api/products/", headers={"Origin": CORS_ORIGIN})
    assert simple.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "X-Next-Page-Token" in simple.headers["Access-Control-Expose-Headers"]
    error = await api.get("/api/cart/", headers={"Origin": CORS_ORIGIN})
    assert error.status == 401
    assert error.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN

    foreign = await api.get("/api/health", headers={"Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    foreign_preflight = await api.call(
        "OPTIONS",
        "/api/cart/",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in foreign_preflight.headers
    assert foreign_preflight.status == 405


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_red_metrics_use_the_route_template(api: Api) -> None:
    labels = {"method": "GET", "route": "/api/products/{id}", "status": "404"}
    before = _sample("shop_http_requests_total", labels)
    duration_before = _sample("shop_http_request_duration_seconds_count", labels)
    await api.get(f"/api/products/{2**62}")
    await api.get(f"/api/products/{2**62 + 1}/")
    assert _sample("shop_http_requests_total", labels) == before + 2
    assert _sample("shop_http_request_duration_seconds_count", labels) == duration_before + 2

    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before = _sample("shop_http_requests_total", unmatched)
    await api.get(f"/api/{'x' * 20}")
    assert _sample("shop_http_requests_total", unmatched) == before + 1


async def test_openapi_document_lists_every_route(api: Api) -> None:
    reply = await api.get("/api/openapi.json")
    assert reply.status == 200
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "ErrorBody" in doc["components"]["schemas"]
    listed = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert listed == {(r.full_path, r.method.lower()) for r in ROUTES}
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))

    for route in ROUTES:
        op = doc["paths"][route.full_path][route.method.lower()]
        assert str(route.status) in op["responses"]
        if route.auth == "public":
            assert op["security"] == []
        else:
            assert op["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
            assert "401" in op["responses"]
        if route.auth == "admin":
            assert "403" in op["responses"]
        if route.request is not None:
            assert {"400", "413"} <= set(op["responses"])
            assert op["requestBody"]["required"] is not route.request_optional
        params = {p["name"] for p in op.get("parameters", [])}
        assert set(route.path_params) <= params

    # Every reference points at a schema that is there.
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', _dumps(doc))
    assert refs
    assert set(refs) <= set(doc["components"]["schemas"])

    new_product = doc["components"]["schemas"]["NewProduct"]
    assert set(new_product["required"]) == {"name", "price"}
    assert new_product["properties"]["price"]["type"] == "number"
    listing = doc["paths"]["/api/products/"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"q", "page_size", "page_token", "include"}
    assert "X-Next-Page-Token" in listing["responses"]["200"]["headers"]


def _dumps(doc: Any) -> str:
    import json

    return json.dumps(doc)
