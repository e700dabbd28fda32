"""Meta endpoints: liveness and the OpenAPI document. Neither calls a service."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, RootModel

from gateway.routing import OPENAPI, Ctx, Route


class Health(BaseModel):
    status: Literal["ok"]


class OpenApiDocument(RootModel[dict[str, Any]]):
    pass


async def health(ctx: Ctx) -> Health:
    return Health(status="ok")


async def openapi_document(ctx: Ctx) -> OpenApiDocument:
    return OpenApiDocument(ctx.request.app[OPENAPI])


ROUTES = [
    Route("GET", "/health", health, "Liveness of the gateway itself", ("meta",), response=Health),
    Route(
        "GET",
        "/openapi.json",
        openapi_document,
        "This OpenAPI 3.1 document",
        ("meta",),
        response=OpenApiDocument,
    ),
]
