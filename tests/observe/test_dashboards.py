"""The committed dashboards are what deploy/observe/dashboards.py makes, and every expression in
them is PromQL that Prometheus accepts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from deploy.observe import dashboards
from tests.support import observed


def test_committed_dashboards_are_fresh() -> None:
    present = {p.name: p.read_text() for p in dashboards.OUT.glob("*.json")}
    assert present == dashboards.files(), "dashboards are stale: run `make dashboards`"


def test_the_four_dashboards_and_their_panels() -> None:
    titles = {}
    for path in dashboards.OUT.glob("*.json"):
        board = json.loads(path.read_text())
        titles[board["uid"]] = board["title"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
    assert set(titles) == {"shop-platform", "shop-checkout", "shop-inventory", "shop-activity"}


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    promtool = observed.promtool()
    rules = []
    for name, exprs in observed.exprs().items():
        for i, expr in enumerate(exprs):
            if expr.startswith("label_values("):
                continue  # a Grafana variable query, not PromQL
            # Grafana's variables, as Prometheus would get them.
            promql = expr.replace("$__rate_interval", "5m").replace("$service", ".*")
            assert "$" not in re.sub(r"\{\{.*?\}\}", "", promql), f"unknown variable in {name}: {expr}"
            record = f"check:{re.sub(r'[^a-z]', '_', name)}:{i}"
            rules.append(f"      - record: {record}\n        expr: {json.dumps(promql)}")
    path = tmp_path / "exprs.yaml"
    path.write_text("groups:\n  - name: exprs\n    rules:\n" + "\n".join(rules) + "\n")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
