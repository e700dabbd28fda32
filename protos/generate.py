"""Generate Python code and typed stubs from the contracts: `python protos/generate.py`.

Output goes to protos/gen/python (committed, so a fresh clone imports it at once);
`--check` regenerates into a scratch folder and fails when the committed copy is stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTOS = Path(__file__).resolve().parent
OUT = PROTOS / "gen" / "python"


def _plugin(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "shop").rglob("*.proto"))
    if not sources:
        raise SystemExit("no .proto files under protos/shop")
    include = str(Path(protoc.__file__).parent / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Regular packages (not namespace ones) keep mypy and importers unambiguous.
    for folder in [out / "shop", *(p for p in (out / "shop").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [f"only in {left}: {n}" for n in cmp.left_only]
    found += [f"only in {right}: {n}" for n in cmp.right_only]
    found += [f"differs: {left / n}" for n in cmp.diff_files]
    # dircmp compares shallowly by stat; compare contents of the common files too.
    found += [
        f"differs: {left / n}" for n in cmp.same_files if (left / n).read_bytes() != (right / n).read_bytes()
    ]
    for sub in cmp.common_dirs:
        found += _differences(left / sub, right / sub)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = Path(scratch)
            generate(fresh)
            stale = _differences(fresh / "shop", OUT / "shop") if (OUT / "shop").exists() else ["missing"]
        if stale:
            print("generated code is stale; run `make protos`:", *stale, sep="\n  ", file=sys.stderr)
            return 1
        print("generated code is fresh")
        return 0
    if OUT.exists():
        shutil.rmtree(OUT)
    generate(OUT)
    print(f"generated into {OUT.relative_to(PROTOS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
