"""What a search backend is asked and answers, independent of where the index lives."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import PriceBand


class Sort(enum.StrEnum):
    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NAME = "name"
    NEWEST = "newest"
    RATING = "rating"
    POPULARITY = "popularity"


@dataclass(frozen=True)
class Document:
    """What the index knows of one product."""

    name: str
    description: str
    sku: str
    active: bool


@dataclass(frozen=True)
class Query:
    text: str = ""
    sort: Sort = Sort.NEWEST
    # The category's materialised path ("/1/4/"): it and its descendants.
    category_path: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock_only: bool = False
    min_rating: float | None = None
    statuses: tuple[str, ...] = ("active",)
    limit: int = 50
    # The opaque page token of the previous page ("" for the first).
    page_token: str = ""
    facets: bool = False


@dataclass(frozen=True)
class Facets:
    categories: dict[int, int]
    price_bands: list[tuple[PriceBand, int]]
    in_stock: int
    out_of_stock: int


@dataclass(frozen=True)
class Result:
    ids: list[int]
    next_page_token: str
    total: int
    facets: Facets | None = None
    # The query's words after typo correction, when any changed.
    corrected: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class SearchBackend(ABC):
    @abstractmethod
    async def index(
        self, session: AsyncSession, product_id: int, old: Document | None, new: Document | None
    ) -> None:
        """Brings the index in step with one product's change, inside the writer's transaction
        (old is None for a new product, new is None for a deleted one)."""

    @abstractmethod
    def changed(self, product_ids: Sequence[int], text: bool = True) -> None:
        """This process has committed changes to these products (their rows, categories or
        signals; `text` False: nothing search matches): for what a backend keeps outside the
        writers' transactions."""

    @abstractmethod
    def tree_changed(self) -> None:
        """This process has committed a change to the category tree."""

    @abstractmethod
    async def warm(self) -> None:
        """Loads what the backend keeps in memory, at start-up; failures are logged, not raised."""

    @abstractmethod
    async def search(self, query: Query) -> Result:
        """One page of matching product ids, in the query's order, with the total and (when
        asked) the facets."""

    @abstractmethod
    async def list_ids(
        self, text: str, statuses: tuple[str, ...], after: int | None, limit: int
    ) -> list[int]:
        """Matching ids in id order after `after` (the documented listing's order)."""
