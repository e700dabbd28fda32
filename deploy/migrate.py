"""`python -m deploy.migrate [service ...]`: bring each SQL service's schema to its newest revision.

The same migrations each service runs at start-up (`Runtime.database`), run alone, so a cluster can
migrate once before new pods start (the Helm chart's hook Job). Without names: every service that
has a `migrations/` folder. The database may still be starting: each service is retried for
SHOP_MIGRATE_WAIT_SECONDS (60) before the command gives up with exit status 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError

import services
from services.kit import logs
from services.kit.config import SERVICE_PORTS, ServiceSettings, load
from services.kit.database import Database

log = logging.getLogger("shop.migrate")

SERVICES_DIR = Path(services.__file__).resolve().parent


def migrations_dir(service: str) -> Path:
    return SERVICES_DIR / service / "migrations"


def sql_services() -> list[str]:
    """The services that own a SQL schema, in the platform table's order."""
    return [name for name in SERVICE_PORTS if migrations_dir(name).is_dir()]


async def migrate(service: str, wait_seconds: float) -> None:
    settings = load(ServiceSettings, service_name=service)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        db = Database(settings.resolved_database_url())
        try:
            await db.migrate(service, migrations_dir(service))
            log.info("migrated", extra={"service": service})
            return
        except (OSError, OperationalError, InterfaceError) as exc:  # the server is not up yet: try again
            if loop.time() > deadline:
                raise
            log.warning("database not reachable yet", extra={"service": service, "error": repr(exc)})
        finally:
            await db.close()
        await asyncio.sleep(2)


def main(argv: Sequence[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv) or sql_services()
    unknown = [n for n in names if n not in sql_services()]
    if unknown:
        known = ", ".join(sql_services())
        print(f"deploy.migrate: no SQL schema for {', '.join(unknown)} (known: {known})", file=sys.stderr)
        return 2
    logs.configure(
        "migrate", os.environ.get("SHOP_LOG_LEVEL", "INFO"), os.environ.get("SHOP_LOG_FORMAT", "json")
    )
    wait = float(os.environ.get("SHOP_MIGRATE_WAIT_SECONDS", "60"))

    async def run_all() -> None:
        for name in names:
            await migrate(name, wait)

    asyncio.run(run_all())
    return 0


if __name__ == "__main__":
    sys.exit(main())
