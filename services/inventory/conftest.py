"""What the inventory tests share: callers' metadata, fresh product ids, stock lines."""

from __future__ import annotations

from uuid import uuid4

import pytest

from shop.inventory.v1 import inventory_pb2
from tests.support.tokens import TokenFactory, bearer

Metadata = tuple[tuple[str, str]]


@pytest.fixture
def admin(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.admin(9_000_003))


@pytest.fixture
def svc(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.service("orders"))


def new_product_id() -> int:
    """A product id no other test (or earlier run on a shared database) has used."""
    return 10**12 + uuid4().int % 10**15


def stock_lines(*pairs: tuple[int, int]) -> list[inventory_pb2.StockLine]:
    return [inventory_pb2.StockLine(product_id=p, quantity=q) for p, q in pairs]
