"""`python -m deploy.run NAME`: the image's entry point; runs one process of the platform by name.

NAME is `gateway`, a service from the table of services (`services/topology.toml`),
`storefront` (the built shop's files, proxying /api; `deploy/local/storefront.py`),
`migrate` (every SQL service's migrations, then exit; `deploy/migrate.py`) or `keys DIR` (make the
key pair and service secret under DIR once; `deploy/keys.py`). The process replaces
this one (exec), so it is PID 1's direct child in a container and gets SIGTERM itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from services.kit.topology import SERVICES

EXTRA = {
    "gateway": "gateway",
    "storefront": "deploy.local.storefront",
    "migrate": "deploy.migrate",
    "keys": "deploy.keys",
}


def module_of(name: str) -> str | None:
    if name in SERVICES:
        return SERVICES[name].module
    return EXTRA.get(name)


def names() -> list[str]:
    return ["gateway", *SERVICES, *(n for n in EXTRA if n != "gateway")]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    module = module_of(args[0]) if args else None
    if module is None:
        given = repr(args[0]) if args else "nothing"
        print(
            f"usage: deploy.run NAME [ARGS] with NAME one of {', '.join(names())} (got {given})",
            file=sys.stderr,
        )
        return 2
    os.execv(sys.executable, [sys.executable, "-m", module, *args[1:]])


if __name__ == "__main__":
    sys.exit(main())
