"""Claiming a schedule's firing with one conditional UPDATE, so two schedulers never both fire it.

Written by the lifecycle engineer (the scheduler needs a compare-and-set that `schedules.py` does not
offer): the firing belongs to whoever moves `next_fire_at` away from the value it read; everyone else
sees `rowcount == 0` and leaves it alone. Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from clipsearch.storage.models import Schedule


def claim_schedule_slot(
    session: Session,
    schedule_id: int,
    *,
    expected_next_fire_at: datetime | None,
    next_fire_at: datetime,
    fired_at: datetime | None,
) -> bool:
    """Move the schedule to its next slot if nobody else has; True when this caller won.

    `fired_at` = None moves the slot without recording a firing (first planning, or a missed slot).
    """
    condition = (
        Schedule.next_fire_at.is_(None)
        if expected_next_fire_at is None
        else Schedule.next_fire_at == expected_next_fire_at
    )
    values: dict[str, datetime] = {"next_fire_at": next_fire_at}
    if fired_at is not None:
        values["last_fired_at"] = fired_at
    result = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.enabled.is_(True), condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
