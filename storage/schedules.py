"""Cron schedules for recurring jobs, one per (collection, kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.storage.models import Schedule
from clipsearch.storage.records import ScheduleRecord


def _record(row: Schedule) -> ScheduleRecord:
    return ScheduleRecord(
        id=row.id,
        collection_id=row.collection_id,
        kind=row.kind,
        cron=row.cron,
        enabled=row.enabled,
        last_fired_at=row.last_fired_at,
        next_fire_at=row.next_fire_at,
    )


def _row(session: Session, schedule_id: int) -> Schedule:
    row = session.get(Schedule, schedule_id)
    if row is None:
        raise NotFound(f"schedule id {schedule_id} does not exist")
    return row


def upsert_schedule(
    session: Session,
    collection_id: int,
    cron: str,
    *,
    kind: str = "rebuild",
    enabled: bool = True,
    next_fire_at: datetime | None = None,
) -> ScheduleRecord:
    """Create or replace the schedule of `kind` for a collection (the cron string is validated by the caller)."""
    if not cron.strip():
        raise InvalidRequest("cron expression must not be empty")
    row = session.scalar(
        select(Schedule).where(Schedule.collection_id == collection_id, Schedule.kind == kind)
    )
    if row is None:
        row = Schedule(collection_id=collection_id, kind=kind, cron=cron)
        session.add(row)
    row.cron = cron
    row.enabled = enabled
    row.next_fire_at = next_fire_at
    session.flush()
    return _record(row)


def list_schedules(
    session: Session, collection_id: int | None = None, *, enabled_only: bool = False
) -> list[ScheduleRecord]:
    query = select(Schedule)
    if collection_id is not None:
        query = query.where(Schedule.collection_id == collection_id)
    if enabled_only:
        query = query.where(Schedule.enabled.is_(True))
    return [_record(r) for r in session.scalars(query.order_by(Schedule.id))]


def get_schedule(session: Session, schedule_id: int) -> ScheduleRecord:
    return _record(_row(session, schedule_id))


def set_schedule_enabled(session: Session, schedule_id: int, enabled: bool) -> ScheduleRecord:
    row = _row(session, schedule_id)
    row.enabled = enabled
    session.flush()
    return _record(row)


def record_fire(
    session: Session, schedule_id: int, fired_at: datetime, next_fire_at: datetime | None
) -> ScheduleRecord:
    row = _row(session, schedule_id)
    row.last_fired_at = fired_at
    row.next_fire_at = next_fire_at
    session.flush()
    return _record(row)


def delete_schedule(session: Session, schedule_id: int) -> None:
    session.delete(_row(session, schedule_id))
    session.flush()
