"""Clients of the domain services, created and closed with the app (see `app.upstreams_ctx`).

Calls go through the kit's `Channels` (deadline, trace context, the metadata passed in). Each stub
is wrapped so that a failed call raises `UpstreamError` naming the service, which the error
middleware turns into an HTTP status ("reviews service unavailable").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc

from gateway.errors import INTERNAL_ERROR, ApiError, UpstreamError
from gateway.settings import GatewaySettings
from services.kit.clients import Channels, Metadata, ServiceToken, service_token_issuer, unreachable
from shop.activity.v1 import activity_pb2_grpc
from shop.auth.v1 import auth_pb2_grpc
from shop.cart.v1 import cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2_grpc
from shop.content.v1 import content_pb2_grpc
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2_grpc
from shop.profile.v1 import profile_pb2_grpc
from shop.reviews.v1 import reviews_pb2_grpc
from shop.shipping.v1 import shipping_pb2_grpc

log = logging.getLogger("shop.gateway")

StubT = TypeVar("StubT")

# The name the gateway's own token carries ("svc:gateway").
GATEWAY_SERVICE_NAME = "gateway"


class _NamedStub:
    """Proxies a stub; every RPC failure becomes an `UpstreamError` carrying the service name."""

    def __init__(self, service: str, stub: object) -> None:
        self._service = service
        self._stub = stub

    def __getattr__(self, method: str) -> Callable[..., Any]:
        rpc = getattr(self._stub, method)
        service = self._service

        async def call(request: Any, **kwargs: Any) -> Any:
            try:
                return await rpc(request, **kwargs)
            except grpc.aio.AioRpcError as exc:
                raise UpstreamError(service, exc) from exc

        return call


def _stub(channels: Channels, stub_class: Callable[[grpc.aio.Channel], StubT], service: str) -> StubT:
    # The proxy has the stub's methods with the same signatures, so it is typed as the stub.
    return cast(StubT, _NamedStub(service, channels.stub(stub_class, service)))


@dataclass(frozen=True)
class Upstreams:
    auth: auth_pb2_grpc.AuthServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    cart: cart_pb2_grpc.CartServiceStub
    orders: orders_pb2_grpc.OrdersServiceStub
    reviews: reviews_pb2_grpc.ReviewsServiceStub
    profile: profile_pb2_grpc.ProfileServiceStub
    shipping: shipping_pb2_grpc.ShippingServiceStub
    activity: activity_pb2_grpc.ActivityServiceStub
    content: content_pb2_grpc.ContentServiceStub
    # The gateway's own identity, for reads a public endpoint needs but an anonymous caller may
    # not make directly (stock levels on the public product list).
    service_token: ServiceToken

    @classmethod
    def connect(cls, channels: Channels, settings: GatewaySettings) -> Upstreams:
        auth = _stub(channels, auth_pb2_grpc.AuthServiceStub, "auth")

        fetch = service_token_issuer(auth, GATEWAY_SERVICE_NAME, settings.service_secret())

        async def issue() -> tuple[str, float]:
            try:
                return await fetch()
            except UpstreamError as exc:
                if unreachable(exc.code):
                    raise
                # The caller did nothing wrong: the gateway's own identity is misconfigured.
                log.error("cannot get the gateway's service token", extra={"error": str(exc)})
                raise ApiError(500, INTERNAL_ERROR) from exc

        return cls(
            auth=auth,
            catalog=_stub(channels, catalog_pb2_grpc.CatalogServiceStub, "catalog"),
            inventory=_stub(channels, inventory_pb2_grpc.InventoryServiceStub, "inventory"),
            cart=_stub(channels, cart_pb2_grpc.CartServiceStub, "cart"),
            orders=_stub(channels, orders_pb2_grpc.OrdersServiceStub, "orders"),
            reviews=_stub(channels, reviews_pb2_grpc.ReviewsServiceStub, "reviews"),
            profile=_stub(channels, profile_pb2_grpc.ProfileServiceStub, "profile"),
            shipping=_stub(channels, shipping_pb2_grpc.ShippingServiceStub, "shipping"),
            activity=_stub(channels, activity_pb2_grpc.ActivityServiceStub, "activity"),
            content=_stub(channels, content_pb2_grpc.ContentServiceStub, "content"),
            service_token=ServiceToken(issue),
        )

    async def gateway_metadata(self) -> Metadata:
        """`authorization` metadata with the gateway's own service token."""
        return await self.service_token.metadata()
