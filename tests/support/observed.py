"""The metric names the committed dashboards and alert rules read (charts/shop/dashboards/*.json,
charts/shop/alerts/*.yaml), for tests that check them against a running platform."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.observe.promql import metric_names

CHART = Path(__file__).resolve().parents[2] / "charts" / "shop"


def _dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_exprs(item)


def exprs() -> dict[str, list[str]]:
    """Every PromQL expression, by the file it is in."""
    found: dict[str, list[str]] = {}
    for path in sorted((CHART / "dashboards").glob("*.json")):
        found[path.name] = list(_dashboard_exprs(json.loads(path.read_text())))
    for path in sorted((CHART / "alerts").glob("*.yaml")):
        groups = yaml.safe_load(path.read_text())["groups"]
        found[path.name] = [rule["expr"] for group in groups for rule in group["rules"]]
    return found


def used_metric_names() -> dict[str, set[str]]:
    """Each metric name, with the files that read it."""
    used: dict[str, set[str]] = {}
    for name, expressions in exprs().items():
        for expr in expressions:
            for metric in metric_names(expr):
                used.setdefault(metric, set()).add(name)
    return used


def promtool() -> str:
    """promtool's path. Missing: the test skips, saying why, except in CI (CI=true), where `make
    setup` installs it as root and its absence is a failure."""
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (Debian package `prometheus`; `make setup` installs it as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
