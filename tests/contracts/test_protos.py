"""The contracts lint clean, the committed generated code is fresh, and every domain has a service."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "protos"
GENERATED = PROTOS / "gen" / "python"
# The shim npm installs from @bufbuild/buf; it runs the platform's buf binary shipped in the package.
BUF = PROTOS / "node_modules" / ".bin" / "buf"

# Every domain of the platform; each has protos/shop/<domain>/v1/<domain>.proto with <Domain>Service.
DOMAINS = [
    "catalog",
    "auth",
    "profile",
    "cart",
    "inventory",
    "orders",
    "payments",
    "shipping",
    "reviews",
    "activity",
    "content",
]


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_buf_lint_passes() -> None:
    # Not a skip: a missing linter must not let broken contracts through unnoticed.
    if not BUF.exists():
        pytest.fail(f"buf is not installed ({BUF} is missing); run `make setup` (npm install in protos/)")
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH, and buf's npm launcher needs it; run `make setup`")
    result = subprocess.run(
        [str(BUF), "lint"], cwd=PROTOS, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"`buf lint` failed in {PROTOS}:\n{_output(result)}"


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(PROTOS / "generate.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"generated code is stale; run `make protos`:\n{_output(result)}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_domain_has_a_service(domain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (PROTOS / "shop" / domain / "v1" / f"{domain}.proto").is_file(), f"no contract for {domain}"
    if str(GENERATED) not in sys.path:
        monkeypatch.syspath_prepend(str(GENERATED))
    module = importlib.import_module(f"shop.{domain}.v1.{domain}_pb2")
    services = dict(module.DESCRIPTOR.services_by_name)
    expected = f"{domain.capitalize()}Service"
    assert expected in services, f"shop.{domain}.v1 defines {sorted(services)}, not {expected}"
    assert services[expected].methods, f"{expected} has no RPCs"
