"""Page tokens: a forged token carrying a number no BIGINT holds is INVALID_PAGE_TOKEN, never SQL."""

from __future__ import annotations

import pytest

from services.kit import paging
from services.kit.errors import CommonError, DomainError


@pytest.mark.parametrize("after", [2**63, -(2**63) - 1, 10**40, "7", 1.5, True])
def test_decode_int_refuses_what_a_bigint_cannot_hold(after: object) -> None:
    token = paging.encode(after)  # type: ignore[arg-type]
    with pytest.raises(DomainError) as err:
        paging.decode_int(token)
    assert err.value.code == CommonError.INVALID_PAGE_TOKEN


def test_decode_int_round_trips_the_extremes() -> None:
    for after in (2**63 - 1, -(2**63), 0):
        assert paging.decode_int(paging.encode(after)) == after
    assert paging.decode_int("") is None


@pytest.mark.parametrize(
    "after",
    ["1." + "9" * 19, "9" * 4000 + ".1", "1", "1.2.3", "1.x", "1.-", "1. 2", "other.1.2", 5, "newest.1"],
)
def test_decode_ints_refuses_forged_composites(after: int | str) -> None:
    tag = "newest" if str(after).startswith(("newest", "other")) else None
    with pytest.raises(DomainError):
        paging.decode_ints(paging.encode(after), 2, tag=tag)


def test_decode_ints_reads_composites() -> None:
    assert paging.decode_ints(paging.encode("newest.-3.9223372036854775807"), 2, tag="newest") == [
        -3,
        2**63 - 1,
    ]
    assert paging.decode_ints(paging.encode("4.5"), 2) == [4, 5]
    assert paging.decode_ints("", 2) is None
