"""Renders charts/shop with the real helm binary (`make setup` puts it in the virtualenv's bin)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shop"
HELM = Path(sys.executable).parent / "helm"
RELEASE = "t"

# The values files a platform engineer installs with: kind's and a production-like one.
PROFILES: dict[str, list[str]] = {
    "default": [],
    "kind": ["values-kind.yaml"],
    "production": ["values-production.yaml"],
}

Obj = dict[str, Any]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, check=check, timeout=120)


def values_args(profile: str, chart: Path = CHART) -> list[str]:
    return [arg for name in PROFILES[profile] for arg in ("-f", str(chart / name))]


@dataclass
class Rendered:
    objects: list[Obj]

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def workloads(self) -> list[Obj]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]

    def containers(self) -> Iterator[tuple[Obj, Obj]]:
        for workload in self.workloads():
            pod = workload["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                yield workload, container

    def deployment(self, component: str) -> Obj:
        return self.get("Deployment", f"{RELEASE}-shop-{component}")


def render(profile: str, extra: Sequence[str] = (), chart: Path = CHART) -> Rendered:
    """`helm template` of the chart; raises CalledProcessError (with helm's message) on refusal."""
    result = helm("template", RELEASE, str(chart), *values_args(profile, chart), *extra)
    return Rendered([o for o in yaml.safe_load_all(result.stdout) if o])


def refusal(profile: str, extra: Sequence[str], chart: Path = CHART) -> str:
    """helm's message when it refuses to render; fails the test when it renders."""
    result = helm("template", RELEASE, str(chart), *values_args(profile, chart), *extra, check=False)
    assert result.returncode != 0, f"helm rendered {extra} without complaint"
    return result.stderr
