"""skaffold.yaml and deploy/kind: they build the one image and deploy the chart with its kind values."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from tests.deploy.chart import CHART, ROOT

SKAFFOLD = ROOT / "skaffold.yaml"
UP = ROOT / "deploy" / "kind" / "up.sh"


def _skaffold() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SKAFFOLD.read_text())
    return loaded


def test_skaffold_builds_the_image_and_deploys_the_chart() -> None:
    config = _skaffold()
    assert re.fullmatch(r"skaffold/v4beta\d+", config["apiVersion"])
    (artifact,) = config["build"]["artifacts"]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    (release,) = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]) == CHART
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in [*release["setValueTemplates"], *release["setFiles"]]:
        section, field = key.split(".")
        assert field in values[section], key
    assert set(release["setValueTemplates"].values()) == {
        f"{{{{.IMAGE_REPO_{artifact['image']}}}}}",
        f"{{{{.IMAGE_TAG_{artifact['image']}}}}}",
    }


def test_the_kind_profile_uses_the_kind_values_and_cluster() -> None:
    (profile,) = [p for p in _skaffold()["profiles"] if p["name"] == "kind"]
    cluster = yaml.safe_load((ROOT / "deploy" / "kind" / "cluster.yaml").read_text())
    assert profile["activation"] == [{"kubeContext": f"kind-{cluster['name']}"}]
    files = [
        v for patch in profile["patches"] if patch["path"].endswith("valuesFiles") for v in patch["value"]
    ]
    assert files == ["charts/shop/values-kind.yaml"]
    assert all((ROOT / f).is_file() for f in files)


def test_the_kind_script_is_valid_bash_and_uses_the_files_it_names() -> None:
    subprocess.run(["bash", "-n", str(UP)], check=True)
    text = UP.read_text()
    for path in re.findall(r"(?:deploy|charts)/[\w./-]+\.(?:yaml|sh)|deploy/Dockerfile", text):
        assert (ROOT / path).exists(), path
    cluster = yaml.safe_load((ROOT / "deploy" / "kind" / "cluster.yaml").read_text())
    host_ports = {m["hostPort"] for n in cluster["nodes"] for m in n["extraPortMappings"]}
    assert {int(p) for p in re.findall(r"http://localhost:(\d+)/", text)} == host_ports
