from __future__ import annotations

import pytest

from services.kit.errors import DomainError, Kind

from . import domain
from .domain import CatalogPrice, Status


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.PENDING, Status.PAID),
        (Status.PENDING, Status.FAILED),
        (Status.PENDING, Status.CANCELLED),
        (Status.PAID, Status.FULFILLED),
        (Status.PAID, Status.SHIPPED),
        (Status.PAID, Status.CANCELLED),
        (Status.PAID, Status.REFUNDED),
        (Status.FULFILLED, Status.SHIPPED),
        (Status.FULFILLED, Status.CANCELLED),
        (Status.SHIPPED, Status.DELIVERED),
        (Status.DELIVERED, Status.REFUNDED),
    ],
)
def test_allowed_transitions(current: Status, target: Status) -> None:
    domain.check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.PENDING, Status.SHIPPED),
        (Status.PAID, Status.PENDING),
        (Status.PAID, Status.DELIVERED),
        (Status.SHIPPED, Status.CANCELLED),
        (Status.DELIVERED, Status.SHIPPED),
        (Status.CANCELLED, Status.PAID),
        (Status.FAILED, Status.PAID),
        (Status.REFUNDED, Status.PAID),
        (Status.PAID, Status.PAID),
    ],
)
def test_forbidden_transitions_are_failed_precondition(current: Status, target: Status) -> None:
    with pytest.raises(DomainError) as err:
        domain.check_transition(current, target)
    assert err.value.code.kind is Kind.FAILED_PRECONDITION


def test_terminal_statuses_go_nowhere() -> None:
    for terminal in (Status.CANCELLED, Status.REFUNDED, Status.FAILED):
        assert not any(domain.can_transition(terminal, target) for target in Status)


def test_cancellable_statuses() -> None:
    assert {Status.PENDING, Status.PAID, Status.FULFILLED} == domain.CANCELLABLE
    domain.check_cancellable(Status.FULFILLED)
    for status in (Status.CANCELLED, Status.REFUNDED, Status.FAILED):
        with pytest.raises(DomainError) as err:
            domain.check_cancellable(status)
        assert err.value.message == f"order cannot be cancelled in status {status}"
    for status in (Status.SHIPPED, Status.DELIVERED):
        with pytest.raises(DomainError) as err:
            domain.check_cancellable(status)
        assert err.value.message == f"the order is {status} and can no longer be cancelled"


def test_shipping_is_the_requested_method_or_the_cheapest() -> None:
    options = [
        domain.ShippingOption("express", 1500, "USD"),
        domain.ShippingOption("standard", 500, "USD"),
        domain.ShippingOption("economy", 500, "USD"),
    ]
    assert domain.choose_shipping(options, "", "USD").method == "standard"
    assert domain.choose_shipping(options, "express", "USD").cost_minor == 1500
    with pytest.raises(DomainError) as err:
        domain.choose_shipping(options, "drone", "USD")
    assert "'drone' is not offered" in err.value.message
    assert "economy, express, standard" in err.value.message
    with pytest.raises(DomainError) as err:
        domain.choose_shipping([], "", "USD")
    assert err.value.message == "no shipping method delivers to this address"


def test_lines_are_priced_from_the_catalog_in_minor_units() -> None:
    quantities = domain.merge_quantities([(1, 2), (2, 1), (1, 1), (3, 0)])
    assert quantities == {1: 3, 2: 1}
    prices = {1: CatalogPrice(1, "Mug", 1099, "USD"), 2: CatalogPrice(2, "Lamp", 2, "USD")}
    lines, currency = domain.price_lines(quantities, prices)
    assert currency == "USD"
    assert [(line.product_name, line.quantity, line.total_minor) for line in lines] == [
        ("Mug", 3, 3297),
        ("Lamp", 1, 2),
    ]
    totals = domain.totals(lines, currency)
    assert (totals.subtotal_minor, totals.shipping_minor, totals.total_minor) == (3299, 0, 3299)
    assert domain.totals(lines, currency, shipping_minor=500).total_minor == 3799


def test_missing_products_and_mixed_currencies_are_refused() -> None:
    with pytest.raises(DomainError) as err:
        domain.price_lines({1: 1, 9: 1}, {1: CatalogPrice(1, "Mug", 100, "USD")})
    assert err.value.message == "product 9 is no longer available"
    with pytest.raises(DomainError) as err:
        domain.price_lines(
            {1: 1, 2: 1}, {1: CatalogPrice(1, "Mug", 100, "USD"), 2: CatalogPrice(2, "Cup", 1, "EUR")}
        )
    assert err.value.code is domain.OrderError.MIXED_CURRENCIES
    with pytest.raises(DomainError):
        domain.totals(domain.price_lines({1: 10**6}, {1: CatalogPrice(1, "Gold", 10**7, "USD")})[0], "USD")
