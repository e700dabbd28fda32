"""A product's stock, set in inventory when an admin creates or changes the product with one.

The catalog calls inventory's SetStock with its own service token, naming the admin as the
movement's actor. Setting an absolute quantity is idempotent, so an unknown outcome is asked once
more (services/kit/clients.py). A failure becomes the catalog's own answer with inventory's
reason, so the caller sees what it would have seen asking inventory itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from services.kit.clients import Metadata, answered, once_more_if_unknown
from services.kit.errors import CommonError, DomainError, invalid
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from .domain import CatalogError

# The movement's reason, as when the gateway set stock itself.
REASON = "set through the API"


class Stock:
    def __init__(
        self,
        inventory: inventory_pb2_grpc.InventoryServiceAsyncStub,
        metadata: Callable[[], Awaitable[Metadata]],
    ) -> None:
        self._inventory = inventory
        # This service's own token (SetStock takes the catalog's service role).
        self._metadata = metadata

    async def set(self, product_id: int, on_hand: int, actor: str) -> None:
        """Sets the units on hand; DomainError when inventory refuses or cannot be reached."""
        request = inventory_pb2.SetStockRequest(
            product_id=product_id, on_hand=on_hand, reason=REASON, actor=actor
        )

        async def call() -> None:
            await self._inventory.SetStock(request, metadata=await self._service_metadata())

        try:
            await once_more_if_unknown(call)
        except grpc.aio.AioRpcError as exc:
            raise _refusal(exc) from exc

    async def _service_metadata(self) -> Metadata:
        try:
            return await self._metadata()
        except grpc.aio.AioRpcError as exc:
            raise DomainError(CommonError.DEPENDENCY_UNAVAILABLE, "auth service unavailable") from exc


def _refusal(exc: grpc.aio.AioRpcError) -> BaseException:
    """Inventory's failure as the catalog's answer (or the failure itself when it is not one a
    caller can act on: the interceptor answers it as an internal error)."""
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return DomainError(CatalogError.INVENTORY_UNAVAILABLE)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DomainError(CatalogError.INVENTORY_TIMED_OUT)
    if answered(exc) and code == grpc.StatusCode.INVALID_ARGUMENT:
        return invalid(exc.details() or "invalid stock")
    if answered(exc) and code == grpc.StatusCode.FAILED_PRECONDITION:
        return DomainError(CatalogError.STOCK_REFUSED, exc.details() or None)
    failure: BaseException = exc
    return failure
