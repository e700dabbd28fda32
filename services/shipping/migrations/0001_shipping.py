"""zones (seeded with a default rate table), shipments, tracking events, order updates owed

Revision ID: shipping_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "shipping_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

EU = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]  # fmt: skip


def _rate(
    method: str, base: int, per_kg: int, free_over: int | None, min_days: int, max_days: int
) -> dict[str, Any]:
    return {
        "method": method,
        "currency": "USD",
        "base_minor": base,
        "per_kg_minor": per_kg,
        "free_over_minor": free_over,
        "min_days": min_days,
        "max_days": max_days,
    }


# The default rate table, in US cents; admins change it through UpsertZone/DeleteZone.
DEFAULT_ZONES: list[dict[str, Any]] = [
    {
        "name": "United States",
        "countries": ["US"],
        "regions": [],
        "postcode_prefixes": [],
        "rates": [_rate("standard", 599, 100, 5000, 3, 5), _rate("express", 1499, 200, None, 1, 2)],
    },
    {
        "name": "Alaska and Hawaii",
        "countries": ["US"],
        "regions": ["AK", "HI"],
        "postcode_prefixes": [],
        "rates": [_rate("standard", 1299, 200, None, 5, 9), _rate("express", 2999, 400, None, 2, 4)],
    },
    {
        "name": "European Union",
        "countries": EU,
        "regions": [],
        "postcode_prefixes": [],
        "rates": [_rate("standard", 1499, 300, 15000, 5, 10), _rate("express", 3499, 500, None, 2, 5)],
    },
    {
        "name": "Rest of the world",
        "countries": [],
        "regions": [],
        "postcode_prefixes": [],
        "rates": [_rate("standard", 2499, 500, None, 7, 21), _rate("express", 5999, 1000, None, 3, 7)],
    },
]


def upgrade() -> None:
    zones = op.create_table(
        "zones",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("postcode_prefixes", sa.JSON(), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "shipments",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("carrier", sa.String(40), nullable=False),
        sa.Column("tracking_number", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_id", name="uq_shipments_order_id"),
        sa.UniqueConstraint("tracking_number", name="uq_shipments_tracking_number"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_shipments_user_id", "shipments", ["user_id", "id"])
    op.create_table(
        "tracking_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("shipment_id", sa.BigInteger(), sa.ForeignKey("shipments.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("location", sa.String(200), nullable=False, server_default=""),
        sa.Column("message", sa.String(500), nullable=False, server_default=""),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tracking_events_shipment_id", "tracking_events", ["shipment_id", "event_time"])
    op.create_table(
        "order_updates",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("order_id", "target", name="uq_order_updates_order_target"),
    )
    op.create_index("ix_order_updates_due", "order_updates", ["done_at", "next_attempt_at"])
    at = datetime.now(UTC)
    op.bulk_insert(zones, [{**zone, "created_at": at, "updated_at": at} for zone in DEFAULT_ZONES])


def downgrade() -> None:
    op.drop_table("order_updates")
    op.drop_table("tracking_events")
    op.drop_table("shipments")
    op.drop_table("zones")
