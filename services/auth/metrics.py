"""The auth service's metrics, declared once: account deletions still being carried out in the
other services (the deletion outbox), read from the database in the background (`refresher`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import sqlalchemy as sa
from prometheus_client import Gauge

from services.kit.database import Database

from .store import DeletionStepRow

TARGET: Final = "target"

DELETIONS_PENDING = Gauge(
    "shop_auth_account_deletions_pending", "Deleted accounts some service has not forgotten yet"
)
DELETION_STEPS_PENDING = Gauge(
    "shop_auth_deletion_steps_pending",
    "Deletion steps not done yet, by the service that must do them",
    [TARGET],
)


def refresher(db: Database) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        pending = DeletionStepRow.done_at.is_(None)
        async with db.read() as session:
            accounts = await session.scalar(
                sa.select(sa.func.count(sa.distinct(DeletionStepRow.user_id))).where(pending)
            )
            steps = (
                await session.execute(
                    sa.select(DeletionStepRow.target, sa.func.count())
                    .where(pending)
                    .group_by(DeletionStepRow.target)
                )
            ).all()
        DELETIONS_PENDING.set(int(accounts or 0))
        DELETION_STEPS_PENDING.clear()
        for target, count in steps:
            DELETION_STEPS_PENDING.labels(target).set(count)

    return refresh
