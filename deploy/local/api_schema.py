"""`python -m deploy.local.api_schema OUT.json`: the gateway's OpenAPI document, written without a server.

The frontend generates its TypeScript API types from this file (`make frontend-api`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gateway.openapi import document
from gateway.routes import ROUTES


def openapi_document() -> dict[str, Any]:
    return document(ROUTES)


def write(path: Path) -> None:
    path.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m deploy.local.api_schema OUT.json")
    write(Path(sys.argv[1]))
