"""QuoteShipping: the lines' weights and prices (from the catalog where the caller left them out),
then the options the zone rate table gives for the address."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.kit.clients import unreachable
from services.kit.errors import CommonError, DomainError
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.shipping.v1 import shipping_pb2

from . import domain, requests
from .domain import ShippingError
from .store import ShippingStore


class Quoting:
    def __init__(self, store: ShippingStore, catalog: catalog_pb2_grpc.CatalogServiceStub) -> None:
        self._store = store
        self._catalog = catalog

    async def quote(
        self, address: common_pb2.Address, lines: Sequence[shipping_pb2.QuoteLine]
    ) -> list[domain.Option]:
        """Options for a checked address."""
        requests.check_quote_lines(lines)
        missing = [
            line.product_id for line in lines if not line.weight_grams or not line.HasField("unit_price")
        ]
        products = await self._products(list(dict.fromkeys(missing)))
        resolved, currency = resolve(lines, products, set(missing))
        return domain.quote(
            await self._store.all_zones(), requests.destination(address), domain.parcel(resolved, currency)
        )

    async def _products(self, ids: list[int]) -> dict[int, catalog_pb2.Product]:
        if not ids:
            return {}
        try:
            reply = await self._catalog.BatchGetProducts(catalog_pb2.BatchGetProductsRequest(ids=ids))
        except grpc.aio.AioRpcError as exc:
            if unreachable(exc):
                raise DomainError(CommonError.DEPENDENCY_UNAVAILABLE, "the catalog is unavailable") from exc
            raise
        return {p.id: p for p in reply.products}


def resolve(
    lines: Sequence[shipping_pb2.QuoteLine], products: dict[int, catalog_pb2.Product], looked_up: set[int]
) -> tuple[list[domain.Line], str | None]:
    """The lines with what they left out taken from their products, and the one currency they
    share (None for no lines)."""
    resolved: list[domain.Line] = []
    currencies: set[str] = set()
    for line in lines:
        product = products.get(line.product_id)
        if product is None and line.product_id in looked_up:
            raise DomainError(
                ShippingError.PRODUCT_UNAVAILABLE, f"product {line.product_id} is not in the catalog"
            )
        price = line.unit_price if line.HasField("unit_price") or product is None else product.price
        weight = line.weight_grams or (product.weight_grams if product is not None else 0)
        currencies.add(price.currency)
        resolved.append(domain.Line(line.product_id, line.quantity, weight, price.amount_minor))
    if len(currencies) > 1:
        raise DomainError(ShippingError.MIXED_CURRENCIES, f"lines mix {', '.join(sorted(currencies))}")
    return resolved, next(iter(currencies), None)
