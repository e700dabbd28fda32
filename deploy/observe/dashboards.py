"""The Grafana dashboards, as code: `python -m deploy.observe.dashboards` writes them into
charts/shop/dashboards/ (the chart ships them as ConfigMaps for Grafana's sidecar; compose mounts
the same files); `--check` fails when the committed files are not what this code makes.

Every panel reads Prometheus through the `datasource` variable. Replicas of one service report the
same gauges read from storage, so those panels take `max`; counters and histograms are summed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "charts" / "shop" / "dashboards"
RATE = "$__rate_interval"
SERVER_ERRORS = 'code=~"INTERNAL|UNKNOWN|UNAVAILABLE|DEADLINE_EXCEEDED|DATA_LOSS"'


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: Sequence[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    stack: bool = False
    width: int = 12


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: Sequence[Row]
    variables: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (name, label_values query)

    def exprs(self) -> Iterator[str]:
        for row in self.rows:
            for panel in row.panels:
                yield from (expr for expr, _ in panel.exprs)
        yield from (query for _, query in self.variables)


def _rate(metric: str, selector: str = "", by: str = "") -> str:
    grouped = f" by ({by})" if by else ""
    return f"sum{grouped} (rate({metric}{{{selector}}}[{RATE}]))"


def _ratio(metric: str, bad: str, base: str, by: str) -> str:
    return f"{_rate(metric, ','.join(x for x in (base, bad) if x), by)} / {_rate(metric, base, by)}"


def _quantile(q: float, metric: str, selector: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"


def _json_panel(panel: Panel, ident: int, x: int, y: int) -> dict[str, Any]:
    custom: dict[str, Any] = {"stacking": {"mode": "normal" if panel.stack else "none"}}
    return {
        "id": ident,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
            for i, (expr, legend) in enumerate(panel.exprs)
        ],
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    ident, y = 1, 0
    for row in dashboard.rows:
        panels.append(
            {
                "id": ident,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        ident, y, x = ident + 1, y + 1, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_json_panel(panel, ident, x, y))
            ident, x = ident + 1, x + panel.width
        y += 8
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
        }
    ]
    for name, query in dashboard.variables:
        variables.append(
            {
                "name": name,
                "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": query, "refId": name},
                "definition": query,
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {"text": "All", "value": "$__all"},
                "refresh": 2,
            }
        )
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["shop"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "utc",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


PLATFORM = Dashboard(
    uid="shop-platform",
    title="Shop / Platform overview",
    description="Rate, errors and duration of every HTTP route and gRPC service, served and called.",
    variables=(("service", "label_values(shop_rpc_server_requests_total, service)"),),
    rows=(
        Row(
            "Gateway (HTTP /api)",
            (
                Panel(
                    "Requests by route",
                    ((_rate("shop_http_requests_total", by="route"), "{{route}}"),),
                    "reqps",
                ),
                Panel(
                    "5xx ratio by route",
                    ((_ratio("shop_http_requests_total", 'status=~"5.."', "", "route"), "{{route}}"),),
                    "percentunit",
                ),
                Panel(
                    "Answers by status",
                    ((_rate("shop_http_requests_total", by="status"), "{{status}}"),),
                    "reqps",
                    stack=True,
                ),
                Panel(
                    "p99 and p50 duration by route",
                    (
                        (_quantile(0.99, "shop_http_request_duration_seconds", "", "route"), "p99 {{route}}"),
                        (_quantile(0.5, "shop_http_request_duration_seconds", "", "route"), "p50 {{route}}"),
                    ),
                    "s",
                ),
            ),
        ),
        Row(
            "gRPC services (server side)",
            (
                Panel(
                    "Requests by service",
                    (
                        (
                            _rate("shop_rpc_server_requests_total", 'service=~"$service"', "service"),
                            "{{service}}",
                        ),
                    ),
                    "reqps",
                ),
                Panel(
                    "Server error ratio by service",
                    (
                        (
                            _ratio(
                                "shop_rpc_server_requests_total",
                                SERVER_ERRORS,
                                'service=~"$service"',
                                "service",
                            ),
                            "{{service}}",
                        ),
                    ),
                    "percentunit",
                    description="INTERNAL, UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS / all.",
                ),
                Panel(
                    "Answers by code",
                    (
                        (
                            _rate("shop_rpc_server_requests_total", 'service=~"$service"', "service, code"),
                            "{{service}} {{code}}",
                        ),
                    ),
                    "reqps",
                    stack=True,
                ),
                Panel(
                    "p99 duration by method",
                    (
                        (
                            _quantile(
                                0.99,
                                "shop_rpc_server_duration_seconds",
                                'service=~"$service"',
                                "service, method",
                            ),
                            "{{service}}.{{method}}",
                        ),
                    ),
                    "s",
                ),
            ),
        ),
        Row(
            "gRPC calls (client side: what callers saw)",
            (
                Panel(
                    "Calls by caller and target",
                    (
                        (
                            _rate("shop_rpc_client_requests_total", 'target=~"$service"', "service, target"),
                            "{{service}} → {{target}}",
                        ),
                    ),
                    "reqps",
                ),
                Panel(
                    "Failed calls by caller, target and code",
                    (
                        (
                            _rate(
                                "shop_rpc_client_requests_total",
                                'target=~"$service",code!="OK"',
                                "service, target, code",
                            ),
                            "{{service}} → {{target}} {{code}}",
                        ),
                    ),
                    "reqps",
                    description="Includes calls to a target that is down or too slow.",
                ),
                Panel(
                    "p99 call duration by target",
                    (
                        (
                            _quantile(
                                0.99, "shop_rpc_client_duration_seconds", 'target=~"$service"', "target"
                            ),
                            "{{target}}",
                        ),
                    ),
                    "s",
                    width=24,
                ),
            ),
        ),
        Row(
            "Accounts",
            (
                Panel(
                    "Account deletions pending",
                    (
                        ("max(shop_auth_account_deletions_pending)", "accounts"),
                        ("max by (target) (shop_auth_deletion_steps_pending)", "steps: {{target}}"),
                    ),
                    description="Deleted accounts some service has not forgotten yet.",
                    width=24,
                ),
            ),
        ),
    ),
)

CHECKOUT = Dashboard(
    uid="shop-checkout",
    title="Shop / Checkout funnel and payments",
    description="Cart adds, checkouts, revenue, orders by status, payments, refunds, recovery.",
    rows=(
        Row(
            "Funnel",
            (
                Panel(
                    "Cart adds",
                    (
                        (_rate("shop_cart_adds_total"), "adds"),
                        (_rate("shop_cart_added_units_total"), "units"),
                    ),
                    "ops",
                ),
                Panel(
                    "Checkouts by outcome",
                    ((_rate("shop_checkout_outcomes_total", by="outcome"), "{{outcome}}"),),
                    "ops",
                    stack=True,
                ),
                Panel(
                    "Share of checkouts paid",
                    ((_ratio("shop_checkout_outcomes_total", 'outcome="paid"', "", ""), "paid"),),
                    "percentunit",
                ),
                Panel(
                    "Revenue (minor units per second)",
                    ((_rate("shop_orders_revenue_minor_total", by="currency"), "{{currency}}"),),
                ),
                Panel(
                    "Orders by status", (("max by (status) (shop_orders_by_status)", "{{status}}"),), width=24
                ),
            ),
        ),
        Row(
            "Payments",
            (
                Panel(
                    "Provider operations by outcome",
                    (
                        (
                            _rate("shop_payments_operations_total", by="operation, outcome"),
                            "{{operation}} {{outcome}}",
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "Payment failure ratio",
                    (
                        (_ratio("shop_payments_operations_total", 'outcome="failed"', "", ""), "failed"),
                        (_ratio("shop_payments_operations_total", 'outcome="declined"', "", ""), "declined"),
                    ),
                    "percentunit",
                    description="failed: provider unreachable or erring; declined: card refused.",
                ),
                Panel(
                    "Refunds",
                    (
                        (
                            _rate("shop_payments_operations_total", 'operation="refund"', "outcome"),
                            "{{outcome}}",
                        ),
                        (_rate("shop_payments_refunded_minor_total", by="currency"), "{{currency}} minor/s"),
                    ),
                    width=24,
                ),
            ),
        ),
        Row(
            "Recovery",
            (
                Panel(
                    "Orders recovery: passes and what they settled",
                    (
                        (
                            f"sum by (result) (increase(shop_orders_recovery_passes_total[{RATE}]))",
                            "passes {{result}}",
                        ),
                        (
                            f"sum by (settled) (increase(shop_orders_recovery_settled_total[{RATE}]))",
                            "{{settled}}",
                        ),
                    ),
                ),
                Panel(
                    "Payments resolver: passes and calls settled",
                    (
                        (
                            f"sum by (result) (increase(shop_payments_resolver_passes_total[{RATE}]))",
                            "passes {{result}}",
                        ),
                        (f"sum(increase(shop_payments_resolver_settled_total[{RATE}]))", "settled"),
                    ),
                ),
            ),
        ),
    ),
)

INVENTORY = Dashboard(
    uid="shop-inventory",
    title="Shop / Inventory and reservations",
    description="Products on sale out of stock or low, reservations held, overdue and expired.",
    rows=(
        Row(
            "Stock",
            (
                Panel(
                    "Products on sale with no stock",
                    (
                        ("max(shop_catalog_active_products_out_of_stock)", "out of stock"),
                        ("max(shop_catalog_products_active)", "on sale"),
                    ),
                ),
                Panel(
                    "Products at or below their low-stock threshold",
                    (("max(shop_inventory_low_stock_products)", "low"),),
                ),
            ),
        ),
        Row(
            "Reservations",
            (
                Panel("Reservations held", (("max(shop_inventory_reservations_held)", "held"),)),
                Panel(
                    "Most overdue held reservation",
                    (("max(shop_inventory_reservation_oldest_expiry_overdue_seconds)", "overdue"),),
                    "s",
                    description="Above a sweep interval means the sweeper is not expiring holds.",
                ),
                Panel(
                    "Reservations expired by the sweeper",
                    ((_rate("shop_inventory_reservations_expired_total"), "expired"),),
                    "ops",
                ),
                Panel(
                    "Reserve, commit, release calls by code",
                    (
                        (
                            _rate(
                                "shop_rpc_server_requests_total",
                                'service="inventory",method=~"Reserve|CommitReservation|ReleaseReservation|ExtendReservation"',
                                "method, code",
                            ),
                            "{{method}} {{code}}",
                        ),
                    ),
                    "ops",
                ),
            ),
        ),
    ),
)

ACTIVITY = Dashboard(
    uid="shop-activity",
    title="Shop / Activity pipeline",
    description="Events from the gateway's recorder through the Redis stream into the activity service.",
    rows=(
        Row(
            "Stream",
            (
                Panel(
                    "Recorded by the gateway",
                    ((_rate("shop_activity_events_total", by="outcome"), "{{outcome}}"),),
                    "ops",
                    description="written: appended to the stream; dropped: the gateway's queue was full.",
                ),
                Panel(
                    "Consumed by the activity service",
                    ((_rate("shop_activity_stream_consumed_total", by="outcome"), "{{outcome}}"),),
                    "ops",
                ),
                Panel(
                    "Stream lag",
                    (
                        ("max(shop_activity_stream_lag_entries)", "not delivered"),
                        ("max(shop_activity_stream_pending_entries)", "delivered, not stored"),
                    ),
                ),
                Panel(
                    "Activity RPCs by method",
                    (
                        (
                            _rate("shop_rpc_server_requests_total", 'service="activity"', "method"),
                            "{{method}}",
                        ),
                    ),
                    "reqps",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (PLATFORM, CHECKOUT, INVENTORY, ACTIVITY)


def files() -> dict[str, str]:
    return {f"{d.uid}.json": json.dumps(render(d), indent=2, ensure_ascii=False) + "\n" for d in DASHBOARDS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args()
    wanted = files()
    if args.check:
        present = {p.name: p.read_text() for p in OUT.glob("*.json")}
        if present != wanted:
            names = sorted(n for n in wanted.keys() | present.keys() if present.get(n) != wanted.get(n))
            print("dashboards are stale; run `make dashboards`:", *names, sep="\n  ", file=sys.stderr)
            return 1
        print("dashboards are fresh")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(wanted)} dashboards into {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
