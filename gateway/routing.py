"""The one declarative route table's machinery: `Route` describes an endpoint, `register` serves it.

The same `Route` entries register the aiohttp routes and produce the OpenAPI document
(`gateway.openapi`). Every route is served under /api, with and without a trailing slash; path
parameters are positive integer ids, except `{slug}` (see SLUG_PATTERN) and `{ref}` (an id or a
slug); anything else is 404.
A route's handler gets a `Ctx` whose caller, query and body are already checked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.activity import ACTIVITY, EventName
from gateway.auth import Access, Caller, authenticate
from gateway.errors import ApiError
from gateway.models import INT64_MAX
from gateway.sessions import session_token
from gateway.settings import GatewaySettings
from gateway.upstream import Upstreams
from services.kit import jsontext
from services.kit.clients import Metadata

BASE_PATH = "/api"

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[["Ctx"], Awaitable[BaseModel]]

SETTINGS = web.AppKey("settings", GatewaySettings)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
OPENAPI = web.AppKey("openapi", dict)
# Each registered resource's documented path ("/api/products/{id}"), for span names and metrics.
TEMPLATES = web.AppKey("templates", dict)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Caller)

_PATH_PARAM = re.compile(r"\{(\w+)\}")
# The one path parameter that is not an id: a URL slug ("summer-sale-2025"), read with `ctx.slug()`.
SLUG_PARAM = "slug"
SLUG_PATTERN = "[a-z0-9]+(?:-[a-z0-9]+)*"
# A resource addressed by its id or by its slug on one path ("/posts/{ref}"), read with `ctx.ref()`:
# all digits is an id, so such slugs must contain a letter.
REF_PARAM = "ref"
# A stored file's name ("<sha256>.png"), read with `ctx.file_name()`; the service owning the
# files checks the exact form (no dots first, no slashes: nothing outside its folder).
FILE_PARAM = "file"
FILE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_TEXT_PATTERNS = {SLUG_PARAM: SLUG_PATTERN, REF_PARAM: SLUG_PATTERN, FILE_PARAM: FILE_PATTERN}
_TEXT_PARAMS = tuple(_TEXT_PATTERNS)


class FileBody(BaseModel):
    """A handler's answer that is a file, not JSON (served with its own content type)."""

    content: bytes
    content_type: str


class JsonBody(BaseModel):
    """A handler's JSON answer already serialized (gateway/product_cache.py keeps such bytes); the
    route's `response` model still documents its shape."""

    content: bytes


@dataclass(frozen=True)
class HeaderParam:
    name: str
    description: str


@dataclass(frozen=True)
class Route:
    """One endpoint: `path` is relative to /api and written as documented ("/products/{id}")."""

    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    auth: Access = "public"
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    # The body may be left out entirely (it then validates as `{}`).
    request_optional: bool = False
    headers: tuple[HeaderParam, ...] = ()
    # Failures the services may answer besides the ones every route can meet.
    errors: tuple[int, ...] = ()
    # The next page's token is sent in the X-Next-Page-Token response header.
    paged: bool = False
    # The body is a raw file of one of these media types (the handler reads it itself).
    upload: tuple[str, ...] = ()

    @property
    def full_path(self) -> str:
        return BASE_PATH + self.path

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


NEXT_PAGE_HEADER = "X-Next-Page-Token"


@dataclass
class Ctx:
    """What a handler gets: the request, its verified caller and parsed input, the clients."""

    request: web.Request
    settings: GatewaySettings
    upstreams: Upstreams
    caller: Caller | None
    request_id: str
    _ids: dict[str, int]
    _query: BaseModel | None = None
    _body: BaseModel | None = None
    # Extra response headers (X-Next-Page-Token).
    headers: dict[str, str] = field(default_factory=dict)
    # Changes to the response beyond headers (cookies), applied to a successful answer.
    finish: list[Callable[[web.StreamResponse], None]] = field(default_factory=list)

    def id(self, name: str) -> int:
        return self._ids[name]

    def slug(self) -> str:
        """The `{slug}` path parameter (the route pattern admits SLUG_PATTERN only)."""
        value: str = self.request.match_info[SLUG_PARAM]
        return value

    def file_name(self) -> str:
        """The `{file}` path parameter (the route pattern admits FILE_PATTERN only)."""
        value: str = self.request.match_info[FILE_PARAM]
        return value

    def ref(self) -> int | str:
        """The `{ref}` path parameter: an id when all digits, otherwise a slug."""
        value: str = self.request.match_info[REF_PARAM]
        return _id_or_404(value) if value.isdigit() else value

    def query(self, model: type[ModelT]) -> ModelT:
        if not isinstance(self._query, model):
            raise TypeError(f"route declares no query model {model.__name__}")
        return self._query

    def body(self, model: type[ModelT]) -> ModelT:
        if not isinstance(self._body, model):
            raise TypeError(f"route declares no request model {model.__name__}")
        return self._body

    @property
    def user(self) -> Caller:
        if self.caller is None:
            raise TypeError("a public route has no caller")
        return self.caller

    @property
    def metadata(self) -> Metadata:
        """gRPC metadata for calls made for this request: the caller's token, the request id."""
        md: list[tuple[str, str]] = [("x-request-id", self.request_id)]
        if self.caller is not None:
            md.append(("authorization", f"Bearer {self.caller.token}"))
        return tuple(md)

    async def gateway_metadata(self) -> Metadata:
        """Metadata carrying the gateway's own service token instead of the caller's."""
        return (*await self.upstreams.gateway_metadata(), ("x-request-id", self.request_id))

    def next_page(self, token: str) -> None:
        if token:
            self.headers[NEXT_PAGE_HEADER] = token

    def record(
        self,
        name: EventName,
        *,
        product_id: int = 0,
        query: str = "",
        quantity: int = 0,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Records what the caller did (gateway/activity.py): queued only, never fails or waits."""
        recorder = self.request.app.get(ACTIVITY)
        if recorder is not None:
            recorder.record(
                name,
                caller=self.caller,
                authorization=self.request.headers.get("Authorization") or _cookie_bearer(self.request),
                product_id=product_id,
                query=query,
                quantity=quantity,
                attributes=attributes,
            )


def _cookie_bearer(request: web.Request) -> str | None:
    token = session_token(request)
    return f"Bearer {token}" if token else None


def validation_message(exc: ValidationError) -> str:
    """`price: Input should be a valid number; name: Field required`, naming each bad field."""
    parts = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"])
        if err["type"] == "value_error" and "error" in err.get("ctx", {}):
            msg = str(err["ctx"]["error"])
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


async def _read_body(request: web.Request, route: Route, limit: int) -> BaseModel:
    assert route.request is not None
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"Request body too large (limit {limit} bytes)")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, f"Request body too large (limit {limit} bytes)") from exc
    if not raw.strip():
        if not route.request_optional:
            raise ApiError(400, "Request body required: a JSON object")
        data: Any = {}
    else:
        try:
            data = jsontext.loads(raw, parse_float=_integral_as_int)
        except ValueError as exc:  # also NaN, non-UTF-8 bytes and nesting thousands deep
            raise ApiError(400, "Malformed JSON body") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    try:
        return route.request.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, validation_message(exc)) from exc


def _integral_as_int(text: str) -> float | int:
    """JSON Schema counts 3.0 as an integer, so the document's "integer" fields take it; float fields
    take ints alike. Values beyond int64 stay floats (and fail their field's bounds)."""
    value = float(text)
    if value.is_integer() and abs(value) <= INT64_MAX:
        return int(value)
    return value


def _read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    params = {key: request.query.getone(key) for key in request.query}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ApiError(400, validation_message(exc)) from exc


def _path_ids(request: web.Request, route: Route) -> dict[str, int]:
    ids = {}
    for name in route.path_params:
        if name not in _TEXT_PARAMS:
            ids[name] = _id_or_404(request.match_info[name])  # the route pattern admits digits only
    return ids


# An id is a BIGINT: more digits than INT64_MAX has names nothing (and int() refuses thousands).
_MAX_ID_DIGITS = len(str(INT64_MAX))


def _id_or_404(digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_ID_DIGITS:
        raise ApiError(404)
    value = int(significant or "0")
    if not 1 <= value <= INT64_MAX:
        raise ApiError(404)
    return value


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        app = request.app
        ids = _path_ids(request, route)
        caller = await authenticate(request, app[UPSTREAMS], route.auth)
        if caller is not None:
            request[CALLER] = caller
        ctx = Ctx(
            request=request,
            settings=app[SETTINGS],
            upstreams=app[UPSTREAMS],
            caller=caller,
            request_id=request.get(REQUEST_ID, ""),
            _ids=ids,
            _query=_read_query(request, route.query) if route.query else None,
            _body=await _read_body(request, route, app[SETTINGS].max_body_bytes) if route.request else None,
        )
        result = await route.handler(ctx)
        response: web.StreamResponse
        if isinstance(result, FileBody):
            response = web.Response(
                body=result.content, content_type=result.content_type, headers=ctx.headers
            )
        elif isinstance(result, JsonBody):
            response = web.Response(
                body=result.content,
                status=route.status,
                content_type="application/json",
                charset="utf-8",
                headers=ctx.headers,
            )
        else:
            if route.response is not None and not isinstance(result, route.response):
                raise TypeError(
                    f"{route.operation_id} returned {type(result).__name__}, not {route.response.__name__}"
                )
            response = web.Response(
                body=result.model_dump_json().encode(),  # pydantic's serializer: no dict in between
                status=route.status,
                content_type="application/json",
                charset="utf-8",
                headers=ctx.headers,
            )
        for change in ctx.finish:
            change(response)
        return response

    endpoint.__name__ = route.operation_id
    return endpoint


def _aiohttp_path(path: str) -> str:
    # Ids are digits; "/products/abc" matches no route and is a plain 404.
    return _PATH_PARAM.sub(lambda m: f"{{{m[1]}:{_TEXT_PATTERNS.get(m[1], '[0-9]+')}}}", path)


def register(app: web.Application, routes: Sequence[Route]) -> None:
    """Adds every route at its path with and without the trailing slash (no redirects)."""
    resources: dict[str, web.Resource] = {}
    templates: dict[web.AbstractResource, str] = {}
    for route in routes:
        base = _aiohttp_path(route.full_path).rstrip("/")
        for path in (base, base + "/"):
            if path not in resources:
                resources[path] = app.router.add_resource(path)
                templates[resources[path]] = route.full_path
            resources[path].add_route(route.method, _endpoint(route))
    app[TEMPLATES] = templates
