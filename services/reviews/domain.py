"""Review rules without I/O: what a review adds to its product's rating summary, and the
listing orders with their page cursors."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.kit import paging
from services.kit.errors import CommonError, DomainError, ErrorCode, Kind


class ReviewsError(ErrorCode):
    PRODUCT_NOT_FOUND = Kind.NOT_FOUND, "product not found"
    REVIEW_NOT_FOUND = Kind.NOT_FOUND, "review not found"
    CONCURRENT_CHANGE = Kind.ABORTED, "the review changed concurrently; try again"


MIN_RATING = 1
MAX_RATING = 5

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Delta:
    """A change to one product's summary: review count, rating sum and the 1..5 star histogram."""

    count: int = 0
    total: int = 0
    histogram: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def __add__(self, other: Delta) -> Delta:
        h, o = self.histogram, other.histogram
        return Delta(
            self.count + other.count,
            self.total + other.total,
            (h[0] + o[0], h[1] + o[1], h[2] + o[2], h[3] + o[3], h[4] + o[4]),
        )

    def __neg__(self) -> Delta:
        h = self.histogram
        return Delta(-self.count, -self.total, (-h[0], -h[1], -h[2], -h[3], -h[4]))

    def __sub__(self, other: Delta) -> Delta:
        return self + -other

    def __bool__(self) -> bool:
        return bool(self.count or self.total or any(self.histogram))


def contribution(rating: int, hidden: bool) -> Delta:
    """What one review counts for in its product's summary: nothing while it is hidden."""
    if hidden:
        return Delta()
    histogram = [0, 0, 0, 0, 0]
    histogram[rating - 1] = 1
    return Delta(1, rating, (histogram[0], histogram[1], histogram[2], histogram[3], histogram[4]))


def average(count: int, total: int) -> float:
    return total / count if count > 0 else 0.0


class Sort(enum.Enum):
    NEWEST = "n"  # created_at desc, id desc
    HIGHEST = "h"  # rating desc, then newest first
    LOWEST = "l"  # rating asc, then newest first


def to_micros(value: datetime) -> int:
    # SQLite hands back naive datetimes; everything stored is UTC.
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Cursor:
    """The (rating, created_at, id) key of the last review on a page: the next page starts after it.

    A composite key rather than an offset, so reviews written between two pages neither repeat nor
    go missing. The token carries its sort, and a token of another sort is rejected.
    """

    rating: int
    created_at: datetime
    id: int

    def encode(self, sort: Sort) -> str:
        return paging.encode_ints(self.rating, to_micros(self.created_at), self.id, tag=sort.value)

    @staticmethod
    def decode(token: str, sort: Sort) -> Cursor | None:
        values = paging.decode_ints(token, 3, tag=sort.value)
        if values is None:
            return None
        rating, micros, review_id = values
        try:
            return Cursor(rating, from_micros(micros), review_id)
        except (ValueError, OverflowError) as exc:
            raise DomainError(CommonError.INVALID_PAGE_TOKEN) from exc
