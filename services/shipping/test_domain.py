from __future__ import annotations

import pytest

from services.kit.errors import DomainError

from .domain import (
    Destination,
    Line,
    OrderTarget,
    Rate,
    Status,
    Zone,
    best_zone,
    check_transition,
    order_steps,
    order_target,
    parcel,
    quote,
    retry_delay,
    started_kilograms,
)


def _rate(method: str, base: int, per_kg: int, free_over: int | None, days: tuple[int, int]) -> Rate:
    return Rate(method, "USD", base, per_kg, free_over, days[0], days[1])


ZONES = [
    Zone(
        1,
        "US",
        ("US",),
        rates=(_rate("standard", 599, 100, 5000, (3, 5)), _rate("express", 1499, 200, None, (1, 2))),
    ),
    Zone(2, "AK/HI", ("US",), regions=("AK", "HI"), rates=(_rate("standard", 1299, 200, None, (5, 9)),)),
    Zone(
        3, "Manhattan", ("US",), postcode_prefixes=("100",), rates=(_rate("express", 999, 0, None, (0, 1)),)
    ),
    Zone(4, "EU", ("DE", "FR"), rates=(_rate("standard", 1499, 300, 15000, (5, 10)),)),
    Zone(5, "World", (), rates=(_rate("standard", 2499, 500, None, (7, 21)),)),
    Zone(6, "Nowhere", ("QZ",), rates=()),
    Zone(7, "EUR rates", ("QY",), rates=(Rate("standard", "EUR", 500, 0, None, 2, 3),)),
]


def _line(quantity: int, grams: int, cents: int) -> Line:
    return Line(product_id=1, quantity=quantity, weight_grams=grams, unit_price_minor=cents)


# (address, cart lines, expected [(method, cost, min days, max days)] cheapest first)
QUOTES = [
    pytest.param(
        Destination("US", "NY", "12207"),
        [_line(1, 500, 1000)],
        [("standard", 699, 3, 5), ("express", 1699, 1, 2)],
        id="us-half-kilo-bills-one-kilo",
    ),
    pytest.param(
        Destination("US", "CA", "94103"),
        [_line(2, 1000, 1000)],
        [("standard", 799, 3, 5), ("express", 1899, 1, 2)],
        id="us-exactly-two-kilos",
    ),
    pytest.param(
        Destination("US", "CA", "94103"),
        [_line(1, 2001, 1000)],
        [("standard", 899, 3, 5), ("express", 2099, 1, 2)],
        id="us-a-gram-over-two-kilos-bills-three",
    ),
    pytest.param(
        Destination("us", "ca", "94103"),
        [_line(1, 0, 1000)],
        [("standard", 599, 3, 5), ("express", 1499, 1, 2)],
        id="weightless-pays-base-and-case-is-ignored",
    ),
    pytest.param(
        Destination("US", "TX", "73301"),
        [_line(2, 1500, 2500)],
        [("standard", 0, 3, 5), ("express", 2099, 1, 2)],
        id="us-exactly-at-free-threshold-ships-free",
    ),
    pytest.param(
        Destination("US", "TX", "73301"),
        [_line(1, 1500, 4999)],
        [("standard", 799, 3, 5), ("express", 1899, 1, 2)],
        id="us-a-cent-under-free-threshold-pays",
    ),
    pytest.param(
        Destination("US", "AK", "99501"),
        [_line(1, 1200, 9000)],
        [("standard", 1699, 5, 9)],
        id="region-zone-beats-country-zone",
    ),
    pytest.param(
        Destination("US", "NY", "10001"),
        [_line(1, 3000, 100)],
        [("express", 999, 0, 1)],
        id="postcode-zone-beats-country-zone",
    ),
    pytest.param(
        Destination("US", "NY", "10-001"),
        [_line(1, 3000, 100)],
        [("express", 999, 0, 1)],
        id="postcode-dashes-and-spaces-are-ignored",
    ),
    pytest.param(
        Destination("DE", "", "10115"),
        [_line(3, 400, 5000)],
        [("standard", 0, 5, 10)],
        id="eu-over-threshold",
    ),
    pytest.param(
        Destination("FR", "", "75001"),
        [_line(1, 2500, 5000)],
        [("standard", 2399, 5, 10)],
        id="eu-under-threshold",
    ),
    pytest.param(
        Destination("JP", "", "100-0001"),
        [_line(1, 1000, 100000)],
        [("standard", 2999, 7, 21)],
        id="rest-of-world-never-free",
    ),
    pytest.param(Destination("QZ"), [_line(1, 100, 100)], [], id="covering-zone-without-rates-ships-nothing"),
    pytest.param(Destination("QY"), [_line(1, 100, 100)], [], id="rates-in-another-currency-are-not-offered"),
    pytest.param(
        Destination("US", "NY", "12207"),
        [],
        [("standard", 599, 3, 5), ("express", 1499, 1, 2)],
        id="empty-cart",
    ),
]


@pytest.mark.parametrize(("to", "lines", "expected"), QUOTES)
def test_quote_table(to: Destination, lines: list[Line], expected: list[tuple[str, int, int, int]]) -> None:
    options = quote(ZONES, to, parcel(lines, "USD" if lines else None))
    assert [(o.method, o.cost_minor, o.min_days, o.max_days) for o in options] == expected
    assert all(o.currency == "USD" for o in options)
    assert {o.carrier for o in options} <= {"ups", "dhl"}


def test_no_zone_no_options() -> None:
    only_us = [z for z in ZONES if z.countries == ("US",) and not z.regions and not z.postcode_prefixes]
    assert quote(only_us, Destination("JP"), parcel([_line(1, 1, 1)], "USD")) == []


def test_region_or_postcode_zone_needs_a_match_and_ties_go_to_the_oldest() -> None:
    assert best_zone(ZONES, Destination("US", "NY", "12207")) == ZONES[0]
    twin = Zone(9, "US again", ("US",), rates=())
    assert best_zone([twin, *ZONES], Destination("US", "NY", "12207")) == ZONES[0]
    longer = Zone(10, "Lower Manhattan", ("US",), postcode_prefixes=("1000",))
    assert best_zone([*ZONES, longer], Destination("US", "NY", "10004")) == longer


@pytest.mark.parametrize(("grams", "kilos"), [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (25_000, 25)])
def test_started_kilograms(grams: int, kilos: int) -> None:
    assert started_kilograms(grams) == kilos


ALLOWED = [
    (Status.LABEL_CREATED, Status.IN_TRANSIT),
    (Status.LABEL_CREATED, Status.DELIVERED),
    (Status.IN_TRANSIT, Status.IN_TRANSIT),
    (Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY),
    (Status.OUT_FOR_DELIVERY, Status.DELIVERED),
    (Status.OUT_FOR_DELIVERY, Status.EXCEPTION),
    (Status.EXCEPTION, Status.IN_TRANSIT),
    (Status.EXCEPTION, Status.DELIVERED),
]
REFUSED = [
    (Status.DELIVERED, Status.IN_TRANSIT),
    (Status.DELIVERED, Status.EXCEPTION),
    (Status.DELIVERED, Status.DELIVERED),
    (Status.OUT_FOR_DELIVERY, Status.IN_TRANSIT),
    (Status.IN_TRANSIT, Status.LABEL_CREATED),
    (Status.EXCEPTION, Status.LABEL_CREATED),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions(current: Status, target: Status) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transitions(current: Status, target: Status) -> None:
    with pytest.raises(DomainError) as err:
        check_transition(current, target)
    assert err.value.code.name == "INVALID_TRANSITION"


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (Status.LABEL_CREATED, None),
        (Status.IN_TRANSIT, OrderTarget.SHIPPED),
        (Status.OUT_FOR_DELIVERY, OrderTarget.SHIPPED),
        (Status.EXCEPTION, None),
        (Status.DELIVERED, OrderTarget.DELIVERED),
    ],
)
def test_order_target(status: Status, target: OrderTarget | None) -> None:
    assert order_target(status) == target


@pytest.mark.parametrize(
    ("order_status", "target", "steps"),
    [
        ("paid", OrderTarget.SHIPPED, ["shipped"]),
        ("fulfilled", OrderTarget.SHIPPED, ["shipped"]),
        ("shipped", OrderTarget.SHIPPED, []),
        ("delivered", OrderTarget.SHIPPED, []),
        ("paid", OrderTarget.DELIVERED, ["shipped", "delivered"]),
        ("shipped", OrderTarget.DELIVERED, ["delivered"]),
        ("delivered", OrderTarget.DELIVERED, []),
        ("refunded", OrderTarget.DELIVERED, []),
        ("cancelled", OrderTarget.DELIVERED, None),
        ("pending", OrderTarget.SHIPPED, None),
        ("failed", OrderTarget.SHIPPED, None),
    ],
)
def test_order_steps(order_status: str, target: OrderTarget, steps: list[str] | None) -> None:
    assert order_steps(order_status, target) == steps


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 2.0, 30.0) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
