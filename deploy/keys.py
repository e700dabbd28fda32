"""`python -m deploy.keys DIR`: make the platform's keys under DIR/keys once (kept when present).

The same files `make run` keeps in its data folder (deploy/local/keys.py): the Ed25519 pair auth
signs tokens with and the service secret. Compose runs it as a one-shot service into a shared
volume; deploy/kind/up.sh runs it to give the chart its key pair on first install.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deploy.local.keys import ensure_keys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m deploy.keys DIR", file=sys.stderr)
        return 2
    files = ensure_keys(Path(argv[0]))
    print(f"keys in {files.private_key.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
