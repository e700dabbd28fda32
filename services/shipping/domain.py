"""Shipping rules without I/O: the methods, which zone covers an address, what a parcel costs,
how a shipment's status may move, and which order statuses a shipment's progress implies.

Money is integer minor units; weights are grams.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.kit import text
from services.kit.errors import DomainError, ErrorCode, Kind, invalid

GRAMS_PER_KG = 1000
MAX_QUANTITY = 1_000_000
MAX_WEIGHT_GRAMS = 10_000_000  # per unit: 10 tonnes
MAX_DAYS = 365
MAX_LINES = 500
MAX_NAME = 200
MAX_ADDRESS_FIELD = 200
MAX_LOCATION = 200
MAX_MESSAGE = 500
MAX_ZONE_ENTRIES = 300
MAX_POSTCODE_PREFIX = 20
DEFAULT_METHOD = "standard"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CARRIER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TRACKING = re.compile(r"^[A-Z0-9]{1,40}$")


class ShippingError(ErrorCode):
    SHIPMENT_NOT_FOUND = Kind.NOT_FOUND, "shipment not found"
    ZONE_NOT_FOUND = Kind.NOT_FOUND, "zone not found"
    PRODUCT_UNAVAILABLE = Kind.FAILED_PRECONDITION, "a product to ship is not in the catalog"
    MIXED_CURRENCIES = Kind.INVALID_ARGUMENT, "all lines of a quote must share one currency"
    INVALID_TRANSITION = Kind.FAILED_PRECONDITION, "shipment status cannot change that way"
    WEBHOOKS_DISABLED = Kind.UNAVAILABLE, "carrier webhooks are not configured"
    BAD_SIGNATURE = Kind.UNAUTHENTICATED, "invalid webhook signature"
    STALE_WEBHOOK = Kind.UNAUTHENTICATED, "webhook timestamp missing or more than 5 minutes off"
    REPLAYED_WEBHOOK = Kind.ALREADY_EXISTS, "webhook already received"
    CONCURRENT_CHANGE = Kind.ABORTED, "the shipment changed concurrently; try again"


# --- methods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    code: str
    display_name: str
    carrier: str


METHODS: tuple[Method, ...] = (
    Method("standard", "Standard", "ups"),
    Method("express", "Express", "dhl"),
)
METHODS_BY_CODE: Mapping[str, Method] = {m.code: m for m in METHODS}


# --- zones and rates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    method: str
    currency: str
    base_minor: int
    per_kg_minor: int
    # None: never free.
    free_over_minor: int | None
    min_days: int
    max_days: int


@dataclass(frozen=True)
class Zone:
    id: int
    name: str
    countries: tuple[str, ...]
    regions: tuple[str, ...] = ()
    postcode_prefixes: tuple[str, ...] = ()
    rates: tuple[Rate, ...] = ()


@dataclass(frozen=True)
class Destination:
    country: str
    region: str = ""
    postal_code: str = ""


_SPACES = re.compile(r"[\s-]+")


def normalize_country(value: str) -> str:
    return value.strip().upper()


def normalize_region(value: str) -> str:
    return _SPACES.sub(" ", value.strip()).upper()


def normalize_postcode(value: str) -> str:
    """ "sw1a 1aa" and "SW1A-1AA" are the same postcode: upper case, no spaces or dashes."""
    return _SPACES.sub("", value).upper()


def specificity(zone: Zone, to: Destination) -> tuple[int, int, int] | None:
    """How closely the zone fits the address (bigger is closer), or None when it does not cover it.

    (country listed, longest matching postcode prefix, region matched): a postcode match beats a
    region match beats a country-wide zone beats a rest-of-the-world zone (no countries).
    """
    country = normalize_country(to.country)
    if zone.countries and country not in {normalize_country(c) for c in zone.countries}:
        return None
    postcode = normalize_postcode(to.postal_code)
    prefix = max(
        (len(p) for p in map(normalize_postcode, zone.postcode_prefixes) if p and postcode.startswith(p)),
        default=0,
    )
    region = normalize_region(to.region)
    region_hit = bool(region) and region in {normalize_region(r) for r in zone.regions}
    if (zone.regions or zone.postcode_prefixes) and not (prefix or region_hit):
        return None
    return (1 if zone.countries else 0, prefix, 1 if region_hit else 0)


def best_zone(zones: Iterable[Zone], to: Destination) -> Zone | None:
    """The most specific zone covering the address; ties go to the oldest (lowest id)."""
    best: tuple[tuple[int, int, int], int, Zone] | None = None
    for zone in zones:
        score = specificity(zone, to)
        if score is None:
            continue
        if best is None or score > best[0] or (score == best[0] and zone.id < best[1]):
            best = (score, zone.id, zone)
    return best[2] if best else None


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int
    weight_grams: int
    unit_price_minor: int


@dataclass(frozen=True)
class Parcel:
    weight_grams: int
    subtotal_minor: int
    # None when the lines carry no price (nothing to compare free_over with).
    currency: str | None


def parcel(lines: Sequence[Line], currency: str | None) -> Parcel:
    return Parcel(
        weight_grams=sum(line.weight_grams * line.quantity for line in lines),
        subtotal_minor=sum(line.unit_price_minor * line.quantity for line in lines),
        currency=currency,
    )


def started_kilograms(weight_grams: int) -> int:
    """Kilograms billed: every started kilogram counts (1 g -> 1 kg, 1000 g -> 1 kg, 1001 g -> 2 kg)."""
    return -(-weight_grams // GRAMS_PER_KG)


@dataclass(frozen=True)
class Option:
    method: str
    carrier: str
    cost_minor: int
    currency: str
    min_days: int
    max_days: int


def cost(rate: Rate, box: Parcel) -> int:
    if (
        rate.free_over_minor is not None
        and box.currency == rate.currency
        and box.subtotal_minor >= rate.free_over_minor
    ):
        return 0
    return rate.base_minor + rate.per_kg_minor * started_kilograms(box.weight_grams)


def quote(zones: Iterable[Zone], to: Destination, box: Parcel) -> list[Option]:
    """Every method the best zone offers for the parcel, cheapest first (then fastest, then code).

    A rate in another currency than the goods' is not offered; no covering zone gives no options.
    """
    zone = best_zone(zones, to)
    if zone is None:
        return []
    options = [
        Option(
            method=rate.method,
            carrier=METHODS_BY_CODE[rate.method].carrier,
            cost_minor=cost(rate, box),
            currency=rate.currency,
            min_days=rate.min_days,
            max_days=rate.max_days,
        )
        for rate in zone.rates
        if rate.method in METHODS_BY_CODE and (box.currency is None or rate.currency == box.currency)
    ]
    return sorted(options, key=lambda o: (o.cost_minor, o.max_days, o.min_days, o.method))


# --- shipment status -------------------------------------------------------------------------


class Status(enum.StrEnum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


# from -> the statuses an event may bring. A repeated status is a new scan (another location).
# Carriers may skip scans, so any forward move is allowed; EXCEPTION can resume; DELIVERED is final.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.LABEL_CREATED: frozenset(
        {Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED, Status.EXCEPTION}
    ),
    Status.IN_TRANSIT: frozenset(
        {Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED, Status.EXCEPTION}
    ),
    Status.OUT_FOR_DELIVERY: frozenset({Status.OUT_FOR_DELIVERY, Status.DELIVERED, Status.EXCEPTION}),
    Status.EXCEPTION: frozenset(
        {Status.EXCEPTION, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED}
    ),
    Status.DELIVERED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise DomainError(
            ShippingError.INVALID_TRANSITION, f"a shipment cannot move from {current} to {target}"
        )


# --- what the order should become ------------------------------------------------------------


class OrderTarget(enum.StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"


def order_target(status: Status) -> OrderTarget | None:
    """The order status a shipment's new status implies (None: nothing to tell orders)."""
    if status in (Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY):
        return OrderTarget.SHIPPED
    if status is Status.DELIVERED:
        return OrderTarget.DELIVERED
    return None


# Order statuses (services/orders/domain.py) from which shipping may move an order forward.
_BEFORE_SHIPPED = frozenset({"paid", "fulfilled"})
# Order statuses already at or past each target: nothing left to do.
_REACHED: Mapping[OrderTarget, frozenset[str]] = {
    OrderTarget.SHIPPED: frozenset({"shipped", "delivered", "refunded"}),
    OrderTarget.DELIVERED: frozenset({"delivered", "refunded"}),
}


def order_steps(order_status: str, target: OrderTarget) -> list[str] | None:
    """The UpdateOrderStatus calls (in order) that bring an order from its status to the target:
    [] when it is already there, None when it cannot get there (cancelled, failed, pending)."""
    if order_status in _REACHED[target]:
        return []
    if target is OrderTarget.SHIPPED:
        return ["shipped"] if order_status in _BEFORE_SHIPPED else None
    if order_status == "shipped":
        return ["delivered"]
    if order_status in _BEFORE_SHIPPED:
        return ["shipped", "delivered"]
    return None


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try of an order update that failed `attempts` times (exponential)."""
    return float(min(cap, base * 2 ** max(0, min(attempts - 1, 30))))


# --- validation (INVALID_ARGUMENT naming the field and the first problem found) ----------------


def country_code(value: str, field: str) -> str:
    code = normalize_country(value)
    if not _COUNTRY.match(code):
        raise invalid(f"{field} must be an ISO 3166-1 alpha-2 code such as US")
    return code


def method_of(code: str) -> Method:
    found = METHODS_BY_CODE.get(code.strip().lower())
    if found is None:
        raise invalid(f"unknown shipping method {code!r}; one of {', '.join(METHODS_BY_CODE)}")
    return found


def carrier_name(value: str) -> str:
    name = value.strip().lower()
    if not _CARRIER.match(name):
        raise invalid("carrier is not a carrier name")
    return name


def tracking_number(value: str) -> str:
    number = value.strip().upper()
    if not _TRACKING.match(number):
        raise invalid("tracking_number is not a tracking number")
    return number


def shipment_id(value: str) -> int | None:
    """Shipment ids are decimal numbers in a string; anything else names no shipment."""
    stripped = value.strip()
    return int(stripped) if stripped.isdigit() and len(stripped) <= 18 else None


def check_line(index: int, product_id: int, quantity: int, weight_grams: int) -> None:
    if product_id <= 0:
        raise invalid(f"lines[{index}].product_id is required")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise invalid(f"lines[{index}].quantity must be between 1 and {MAX_QUANTITY}")
    if not 0 <= weight_grams <= MAX_WEIGHT_GRAMS:
        raise invalid(f"lines[{index}].weight_grams must be between 0 and {MAX_WEIGHT_GRAMS}")


def check_days(field: str, min_days: int, max_days: int) -> None:
    if not 0 <= min_days <= max_days <= MAX_DAYS:
        raise invalid(f"{field}: need 0 <= min_days <= max_days <= {MAX_DAYS}")


def zone_name(name: str, zone_id: int) -> str:
    stripped = name.strip()
    if not stripped:
        raise invalid("zone.name must not be empty")
    if len(stripped) > MAX_NAME:
        raise invalid(f"zone.name must be at most {MAX_NAME} characters")
    if zone_id < 0:
        raise invalid("zone.id must not be negative")
    return stripped


Places = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def zone(zone_id: int, name: str, places: Places, rates: Sequence[Rate]) -> Zone:
    """A zone to store, from a checked name and places: it may hold one rate per method."""
    methods = [r.method for r in rates]
    if len(set(methods)) != len(methods):
        raise invalid("zone.rates may hold each method once")
    return Zone(zone_id, name, *places, tuple(rates))


def zone_places(countries: Sequence[str], regions: Sequence[str], postcode_prefixes: Sequence[str]) -> Places:
    """(countries, regions, postcode prefixes), normalized, each listed once."""
    for values, field in (
        (countries, "zone.countries"),
        (regions, "zone.regions"),
        (postcode_prefixes, "zone.postcode_prefixes"),
    ):
        if len(values) > MAX_ZONE_ENTRIES:
            raise invalid(f"{field} may list at most {MAX_ZONE_ENTRIES} entries")
    codes = tuple(dict.fromkeys(country_code(c, "zone.countries") for c in countries))
    names = tuple(dict.fromkeys(text.bounded(r, "zone.regions", MAX_ADDRESS_FIELD) for r in regions))
    prefixes = tuple(dict.fromkeys(normalize_postcode(p) for p in postcode_prefixes))
    if any(not r for r in names) or any(not p for p in prefixes):
        raise invalid("zone.regions and zone.postcode_prefixes must not hold empty entries")
    if any(len(p) > MAX_POSTCODE_PREFIX for p in prefixes):
        raise invalid(f"zone.postcode_prefixes must be at most {MAX_POSTCODE_PREFIX} characters")
    if (names or prefixes) and not codes:
        raise invalid("a zone with regions or postcode prefixes must list its countries")
    return codes, names, prefixes
