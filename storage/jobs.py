"""Jobs (indexing runs, rebuilds, …): queued → running → succeeded | failed, with progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from clipsearch.errors import Conflict, InvalidRequest, NotFound
from clipsearch.storage.models import JOB_STATES, Job, utcnow
from clipsearch.storage.records import JobRecord, JobState


def job_record(row: Job) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        collection_id=row.collection_id,
        state=cast(JobState, row.state),
        progress=row.progress,
        error=row.error,
        details=dict(row.details or {}),
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def _row(session: Session, job_id: int) -> Job:
    row = session.get(Job, job_id)
    if row is None:
        raise NotFound(f"job id {job_id} does not exist")
    return row


def create_job(
    session: Session, kind: str, collection_id: int | None = None, details: Mapping[str, Any] | None = None
) -> JobRecord:
    if not kind:
        raise InvalidRequest("job kind must not be empty")
    row = Job(
        kind=kind, collection_id=collection_id, state="queued", progress=0.0, details=dict(details or {})
    )
    session.add(row)
    session.flush()
    return job_record(row)


def start_job(session: Session, job_id: int) -> JobRecord:
    row = _row(session, job_id)
    if row.state != "queued":
        raise Conflict(f"job {job_id} is {row.state}, not queued")
    row.state = "running"
    row.started_at = utcnow()
    session.flush()
    return job_record(row)


def update_job(
    session: Session, job_id: int, *, progress: float | None = None, details: Mapping[str, Any] | None = None
) -> JobRecord:
    """Report progress (0..1) and merge details into the job's details."""
    row = _row(session, job_id)
    if progress is not None:
        if not 0.0 <= progress <= 1.0:
            raise InvalidRequest(f"progress must be within 0..1 (got {progress})")
        row.progress = progress
    if details:
        row.details = {**(row.details or {}), **dict(details)}
    session.flush()
    return job_record(row)


def finish_job(
    session: Session,
    job_id: int,
    state: str,
    *,
    error: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> JobRecord:
    if state not in ("succeeded", "failed"):
        raise InvalidRequest(f"a job finishes as succeeded or failed (got {state!r})")
    row = _row(session, job_id)
    if row.state in ("succeeded", "failed"):
        raise Conflict(f"job {job_id} has finished already ({row.state})")
    row.state = state
    row.error = error
    row.ended_at = utcnow()
    if state == "succeeded":
        row.progress = 1.0
    if details:
        row.details = {**(row.details or {}), **dict(details)}
    session.flush()
    return job_record(row)


def get_job(session: Session, job_id: int) -> JobRecord:
    return job_record(_row(session, job_id))


def list_jobs(
    session: Session,
    *,
    collection_id: int | None = None,
    states: tuple[str, ...] = (),
    kind: str | None = None,
    limit: int = 50,
) -> list[JobRecord]:
    """Newest first."""
    for state in states:
        if state not in JOB_STATES:
            raise InvalidRequest(f"job state must be one of {', '.join(JOB_STATES)} (got {state!r})")
    query = select(Job)
    if collection_id is not None:
        query = query.where(Job.collection_id == collection_id)
    if states:
        query = query.where(Job.state.in_(list(states)))
    if kind is not None:
        query = query.where(Job.kind == kind)
    return [job_record(r) for r in session.scalars(query.order_by(Job.id.desc()).limit(limit))]


def fail_stale_jobs(session: Session, reason: str = "interrupted: the process running it stopped") -> int:
    """Mark running jobs failed (call at startup, under the lease, when nothing else runs them)."""
    rows = list(session.scalars(select(Job).where(Job.state == "running")))
    now = utcnow()
    for row in rows:
        row.state = "failed"
        row.error = reason
        row.ended_at = now
    session.flush()
    return len(rows)
