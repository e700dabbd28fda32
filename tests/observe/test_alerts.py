"""Every alert in charts/shop/alerts fires when it should and stays quiet when it should, checked
by Prometheus's own rule evaluator (`promtool test rules`) on made-up series.

The cases are data here; the test writes them out as a promtool test suite (JSON is YAML) with
the expected annotations rendered from the rule files, so a case names only series and labels.
promtool comes from Debian's `prometheus` package (`make setup` installs it when run as root).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import observed

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "charts" / "shop" / "alerts").glob("*.yaml"))

ERR = 'shop_rpc_server_requests_total{service="orders",method="CreateOrder",code="%s"}'
HTTP = 'shop_http_requests_total{method="GET",route="/api/products/",status="%s"}'
RPC_BUCKET = (
    'shop_rpc_server_duration_seconds_bucket{service="orders",method="CreateOrder",code="OK",le="%s"}'
)
RPC_COUNT = 'shop_rpc_server_duration_seconds_count{service="orders",method="CreateOrder",code="OK"}'
HTTP_BUCKET = 'shop_http_request_duration_seconds_bucket{method="%s",route="%s",status="200",le="%s"}'
PAY = 'shop_payments_operations_total{operation="charge",outcome="%s"}'
OUT_OF_STOCK = "shop_catalog_active_products_out_of_stock"
PASSES = 'shop_orders_recovery_passes_total{result="%s"}'
RESOLVER = 'shop_payments_resolver_passes_total{result="%s"}'
SETTLED = 'shop_orders_recovery_settled_total{settled="%s"}'


def _latency(series_of: Callable[[str], str], slow_le: str) -> dict[str, str]:
    """Histogram buckets of one request a second, each slower than the bucket below `slow_le`."""
    buckets = ("0.5", "1", "2.5", "5", "10", "+Inf")
    return {series_of(le): "0+60x40" if float(le) >= float(slow_le) else "0+0x40" for le in buckets}


def _rpc(le: str) -> str:
    return RPC_BUCKET % le


def _products(le: str) -> str:
    return HTTP_BUCKET % ("GET", "/api/products/", le)


def _checkout(le: str) -> str:
    return HTTP_BUCKET % ("POST", "/api/orders/", le)


@dataclass(frozen=True)
class Case:
    alert: str
    story: str
    series: dict[str, str]
    at: str
    # The labels of each alert expected to fire (besides the rule's own); empty: stays quiet.
    firing: list[dict[str, str]] = field(default_factory=list)


CASES = [
    Case(
        "ShopServiceDown",
        "a target stops answering",
        {'up{job="shop-orders",instance="a:9106"}': "1 1 0x10"},
        "8m",
        [{"job": "shop-orders", "instance": "a:9106"}],
    ),
    Case("ShopServiceDown", "a target answers", {'up{job="shop-orders",instance="a:9106"}': "1x10"}, "8m"),
    Case(
        "ShopServiceDown",
        "a short blip",
        {'up{job="shop-orders",instance="a:9106"}': "1 1 1 1 1 0 1x5"},
        "8m",
    ),
    Case(
        "ShopRpcErrorRatio",
        "a third of the calls fail",
        {ERR % "OK": "0+60x20", ERR % "INTERNAL": "0+30x20"},
        "15m",
        [{"service": "orders"}],
    ),
    Case(
        "ShopRpcErrorRatio", "a few failures", {ERR % "OK": "0+60x20", ERR % "UNAVAILABLE": "0+1x20"}, "15m"
    ),
    Case(
        "ShopRpcErrorRatio",
        "callers' mistakes are not faults",
        {ERR % "OK": "0+60x20", ERR % "NOT_FOUND": "0+60x20"},
        "15m",
    ),
    Case(
        "ShopHttpErrorRatio",
        "a third of requests get 5xx",
        {HTTP % "200": "0+60x20", HTTP % "503": "0+30x20"},
        "15m",
        [{}],
    ),
    Case(
        "ShopHttpErrorRatio", "4xx are not faults", {HTTP % "200": "0+60x20", HTTP % "404": "0+60x20"}, "15m"
    ),
    Case(
        "ShopRpcLatencyP99",
        "every call takes over a second",
        {**_latency(_rpc, "2.5"), RPC_COUNT: "0+60x40"},
        "30m",
        [{"service": "orders"}],
    ),
    Case("ShopRpcLatencyP99", "calls are fast", {**_latency(_rpc, "0.5"), RPC_COUNT: "0+60x40"}, "30m"),
    Case(
        "ShopHttpLatencyP99",
        "a product route is slow",
        _latency(_products, "2.5"),
        "30m",
        [{"route": "/api/products/"}],
    ),
    Case("ShopHttpLatencyP99", "checkout within its own bound", _latency(_checkout, "5"), "30m"),
    Case(
        "ShopHttpLatencyP99",
        "checkout past its bound",
        _latency(_checkout, "10"),
        "30m",
        [{"route": "/api/orders/"}],
    ),
    Case(
        "ShopPaymentFailureSpike",
        "half the charges fail",
        {PAY % "succeeded": "0+60x30", PAY % "failed": "0+60x30"},
        "25m",
        [{}],
    ),
    Case(
        "ShopPaymentFailureSpike",
        "declines are not failures",
        {PAY % "succeeded": "0+60x30", PAY % "declined": "0+60x30", PAY % "failed": "0+0x30"},
        "25m",
    ),
    Case(
        "ShopActiveProductOutOfStock",
        "two products on sale run out",
        {OUT_OF_STOCK + '{instance="a"}': "0 0 2x30", OUT_OF_STOCK + '{instance="b"}': "0 0 2x30"},
        "25m",
        [{}],
    ),
    Case("ShopActiveProductOutOfStock", "everything on sale is in stock", {OUT_OF_STOCK: "0x30"}, "25m"),
    Case(
        "ShopActiveProductOutOfStock",
        "restocked before the alert",
        {OUT_OF_STOCK: "0x5 1x10 0x15"},
        "25m",
    ),
    Case(
        "ShopReservationsPilingUp",
        "the sweeper stopped expiring holds",
        {"shop_inventory_reservation_oldest_expiry_overdue_seconds": "0+60x30"},
        "25m",
        [{}],
    ),
    Case(
        "ShopReservationsPilingUp",
        "held reservations keep growing",
        {
            "shop_inventory_reservations_held": "900+10x60",
            "shop_inventory_reservation_oldest_expiry_overdue_seconds": "0x60",
        },
        "55m",
        [{}],
    ),
    Case(
        "ShopReservationsPilingUp",
        "many holds, steady and swept",
        {
            "shop_inventory_reservations_held": "1500x60",
            "shop_inventory_reservation_oldest_expiry_overdue_seconds": "10x60",
        },
        "55m",
    ),
    Case(
        "ShopActivityStreamLagGrowing",
        "the backlog keeps growing",
        {"shop_activity_stream_lag_entries": "10000+500x60"},
        "50m",
        [{}],
    ),
    Case(
        "ShopActivityStreamLagGrowing",
        "written, none consumed",
        {
            'shop_activity_events_total{outcome="written"}': "0+100x60",
            'shop_activity_stream_consumed_total{outcome="stored"}': "0x60",
        },
        "50m",
        [{}],
    ),
    Case(
        "ShopActivityStreamLagGrowing",
        "a steady backlog being consumed",
        {
            "shop_activity_stream_lag_entries": "20000x60",
            'shop_activity_events_total{outcome="written"}': "0+100x60",
            'shop_activity_stream_consumed_total{outcome="stored"}': "0+100x60",
        },
        "50m",
    ),
    Case(
        "ShopRecoveryNotSettling",
        "every recovery pass fails",
        {PASSES % "failed": "0+1x120", PASSES % "ok": "0x120"},
        "90m",
        [{}],
    ),
    Case(
        "ShopRecoveryNotSettling",
        "every resolver pass fails",
        {RESOLVER % "failed": "0+1x120", RESOLVER % "ok": "0x120"},
        "90m",
        [{}],
    ),
    Case(
        "ShopRecoveryNotSettling",
        "recovery skips everything it finds",
        {PASSES % "ok": "0+1x120", SETTLED % "skipped": "0+1x120", SETTLED % "paid": "0x120"},
        "90m",
        [{}],
    ),
    Case(
        "ShopRecoveryNotSettling",
        "recovery settles, with a skip now and then",
        {
            PASSES % "ok": "0+1x120",
            PASSES % "failed": "0+0x60 1+0x60",
            SETTLED % "skipped": "0+1x120",
            SETTLED % "paid": "0+1x120",
        },
        "90m",
    ),
]


def _rules() -> dict[str, dict[str, Any]]:
    found = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def _suite() -> dict[str, Any]:
    rules = _rules()
    tests = []
    for case in CASES:
        rule = rules[case.alert]
        expected = []
        for labels in case.firing:
            expected.append(
                {
                    "exp_labels": {**labels, **rule.get("labels", {})},
                    "exp_annotations": {
                        k: _render(v, labels) for k, v in rule.get("annotations", {}).items()
                    },
                }
            )
        tests.append(
            {
                "name": f"{case.alert}: {case.story}",
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "alert_rule_test": [{"eval_time": case.at, "alertname": case.alert, "exp_alerts": expected}],
            }
        )
    return {"rule_files": [str(p) for p in RULE_FILES], "evaluation_interval": "1m", "tests": tests}


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet() -> None:
    names = set(_rules())
    assert names, "no alert rules found"
    assert {c.alert for c in CASES if c.firing} == names
    assert {c.alert for c in CASES if not c.firing} == names
    for name, rule in _rules().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == name.lower(), f"{name}'s runbook anchor"
        readme = (REPO / "README.md").read_text()
        assert f"#### {name}" in readme, f"{name} has no runbook entry in README.md"


def test_promtool_agrees(tmp_path: Path) -> None:
    promtool = observed.promtool()
    suite = tmp_path / "alerts_test.yaml"
    suite.write_text(json.dumps(_suite(), indent=1))
    checked = subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = subprocess.run(
        [promtool, "test", "rules", str(suite)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
