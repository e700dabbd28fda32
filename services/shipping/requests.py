"""Request messages read into checked values: what a field holds is judged by domain.py, this
module only takes the fields out of the messages (INVALID_ARGUMENT names the field)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from services.kit import jsontext, money, text, timestamps
from services.kit.errors import invalid
from shop.common.v1 import common_pb2
from shop.shipping.v1 import shipping_pb2

from . import domain
from .domain import Status
from .store import NewEvent


def address(message: common_pb2.Address, field: str) -> common_pb2.Address:
    for name in ("name", "line1", "line2", "city", "region", "postal_code", "phone"):
        if len(getattr(message, name)) > domain.MAX_ADDRESS_FIELD:
            raise invalid(f"{field}.{name} must be at most {domain.MAX_ADDRESS_FIELD} characters")
    checked = common_pb2.Address()
    checked.CopyFrom(message)
    checked.country = domain.country_code(message.country, f"{field}.country")
    return checked


def destination(checked: common_pb2.Address) -> domain.Destination:
    return domain.Destination(checked.country, checked.region, checked.postal_code)


def status(value: int) -> Status:
    if value == shipping_pb2.SHIPMENT_STATUS_UNSPECIFIED:
        raise invalid("event.status is required")
    try:
        name = shipping_pb2.ShipmentStatus.Name(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise invalid(f"unknown shipment status {value}") from exc
    return Status(name.removeprefix("SHIPMENT_STATUS_").lower())


def event(message: shipping_pb2.TrackingEvent) -> NewEvent:
    return NewEvent(
        status=status(message.status),
        location=text.bounded(message.location, "event.location", domain.MAX_LOCATION),
        message=text.bounded(message.message, "event.message", domain.MAX_MESSAGE),
        event_time=timestamps.from_proto(message.event_time, "event.event_time")
        if message.HasField("event_time")
        else timestamps.now(),
    )


def rate(message: shipping_pb2.Rate, field: str) -> domain.Rate:
    method = domain.method_of(message.method)
    if not message.HasField("base_cost"):
        raise invalid(f"{field}.base_cost is required")
    base = money.validated(message.base_cost, f"{field}.base_cost")
    per_kg = _optional_money(message, "per_kg_cost", field)
    free = _optional_money(message, "free_over", field)
    for other, name in ((per_kg, "per_kg_cost"), (free, "free_over")):
        if other is not None and other.currency != base.currency:
            raise invalid(f"{field}.{name} must be in the currency of base_cost ({base.currency})")
    domain.check_days(field, message.min_days, message.max_days)
    return domain.Rate(
        method=method.code,
        currency=base.currency,
        base_minor=base.amount_minor,
        per_kg_minor=per_kg.amount_minor if per_kg else 0,
        free_over_minor=free.amount_minor if free else None,
        min_days=message.min_days,
        max_days=message.max_days,
    )


def _optional_money(
    message: shipping_pb2.Rate, name: Literal["per_kg_cost", "free_over"], field: str
) -> common_pb2.Money | None:
    return money.validated(getattr(message, name), f"{field}.{name}") if message.HasField(name) else None


def zone(message: shipping_pb2.Zone) -> domain.Zone:
    name = domain.zone_name(message.name, message.id)
    places = domain.zone_places(message.countries, message.regions, message.postcode_prefixes)
    rates = [rate(r, f"zone.rates[{i}]") for i, r in enumerate(message.rates)]
    return domain.zone(message.id, name, places, rates)


def check_quote_lines(lines: Sequence[shipping_pb2.QuoteLine]) -> None:
    if len(lines) > domain.MAX_LINES:
        raise invalid(f"at most {domain.MAX_LINES} lines per quote")
    for i, line in enumerate(lines):
        domain.check_line(i, line.product_id, line.quantity, line.weight_grams)
        if line.HasField("unit_price"):
            money.validated(line.unit_price, f"lines[{i}].unit_price")


def webhook_event(payload: bytes) -> tuple[str, NewEvent]:
    """(tracking number, event) from a carrier's JSON body."""
    try:
        data: Any = jsontext.loads(payload)
    except ValueError as exc:
        raise invalid("the webhook body is not JSON") from exc
    if not isinstance(data, dict):
        raise invalid("the webhook body must be a JSON object")
    tracking = domain.tracking_number(_json_text(data, "tracking_number", required=True))
    try:
        state = Status(_json_text(data, "status", required=True).strip().lower())
    except ValueError as exc:
        raise invalid(f"status must be one of {', '.join(s.value for s in Status)}") from exc
    when = _occurred_at(_json_text(data, "occurred_at"))
    return tracking, NewEvent(
        status=state,
        location=text.bounded(_json_text(data, "location"), "location", domain.MAX_LOCATION),
        message=text.bounded(_json_text(data, "message"), "message", domain.MAX_MESSAGE),
        event_time=when,
    )


def _json_text(data: dict[str, Any], key: str, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{key} must be a{' non-empty' if required else ''} string")
    return value


def _occurred_at(value: str) -> datetime:
    """The carrier's time of the event; now when it gives none."""
    if not value:
        return timestamps.now()
    try:
        return timestamps.to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise invalid("occurred_at must be an RFC 3339 time such as 2026-11-25T10:00:00Z") from exc
