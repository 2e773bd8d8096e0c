"""Index versions: building → ready → active → retired (or failed), one active per key.

Key = (collection, space, unit). Activation retires the old active version and activates the new one
in the caller's transaction; a partial unique index (`uq_index_versions_one_active`) makes the
database refuse a second active version even under concurrent activations, which surfaces here as
`Conflict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clipsearch.errors import Conflict, InvalidRequest, NotFound
from clipsearch.storage.models import UNITS, IndexVersion, utcnow
from clipsearch.storage.records import IndexVersionRecord, Unit, VersionStatus


def version_record(row: IndexVersion) -> IndexVersionRecord:
    return IndexVersionRecord(
        id=row.id,
        collection_id=row.collection_id,
        space_id=row.space_id,
        unit=cast(Unit, row.unit),
        version=row.version,
        factory=row.factory,
        metric=row.metric,
        ntotal=row.ntotal,
        path=row.path,
        status=cast(VersionStatus, row.status),
        metrics=dict(row.metrics or {}),
        error=row.error,
        created_at=row.created_at,
        ready_at=row.ready_at,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
    )


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise InvalidRequest(f"unit must be one of {', '.join(UNITS)} (got {unit!r})")


def _row(session: Session, version_id: int) -> IndexVersion:
    row = session.get(IndexVersion, version_id)
    if row is None:
        raise NotFound(f"index version id {version_id} does not exist")
    return row


def next_version_number(session: Session, collection_id: int, space_id: int, unit: str) -> int:
    _check_unit(unit)
    current = session.scalar(
        select(func.max(IndexVersion.version)).where(
            IndexVersion.collection_id == collection_id,
            IndexVersion.space_id == space_id,
            IndexVersion.unit == unit,
        )
    )
    return int(current or 0) + 1


def create_version(
    session: Session,
    collection_id: int,
    space_id: int,
    unit: str,
    *,
    factory: str,
    path: str,
    metric: str = "ip",
    version: int | None = None,
) -> IndexVersionRecord:
    """Register a version in state `building` (number = next free one unless given)."""
    number = version if version is not None else next_version_number(session, collection_id, space_id, unit)
    row = IndexVersion(
        collection_id=collection_id,
        space_id=space_id,
        unit=unit,
        version=number,
        factory=factory,
        metric=metric,
        path=path,
        status="building",
        metrics={},
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"index version v{number} exists already for this collection/space/unit") from None
    return version_record(row)


def mark_version_ready(
    session: Session, version_id: int, *, ntotal: int, metrics: Mapping[str, Any] | None = None
) -> IndexVersionRecord:
    row = _row(session, version_id)
    if row.status != "building":
        raise Conflict(f"index version {row.version} is {row.status}, not building")
    row.status = "ready"
    row.ntotal = ntotal
    row.metrics = {**(row.metrics or {}), **dict(metrics or {})}
    row.ready_at = utcnow()
    session.flush()
    return version_record(row)


def mark_version_failed(session: Session, version_id: int, error: str) -> IndexVersionRecord:
    row = _row(session, version_id)
    if row.status == "active":
        raise Conflict(f"index version {row.version} is active; retire it before failing it")
    row.status = "failed"
    row.error = error
    session.flush()
    return version_record(row)


def activate_version(session: Session, version_id: int) -> IndexVersionRecord:
    """Make a ready (or retired) version the active one, retiring the current one, atomically."""
    row = _row(session, version_id)
    if row.status == "active":
        return version_record(row)
    if row.status not in ("ready", "retired"):
        raise Conflict(
            f"index version v{row.version} is {row.status}; only ready or retired versions activate"
        )
    now = utcnow()
    try:
        with session.begin_nested():
            session.execute(
                update(IndexVersion)
                .where(
                    IndexVersion.collection_id == row.collection_id,
                    IndexVersion.space_id == row.space_id,
                    IndexVersion.unit == row.unit,
                    IndexVersion.status == "active",
                )
                .values(status="retired", retired_at=now)
                .execution_options(synchronize_session="fetch")
            )
            row.status = "active"
            row.activated_at = now
            row.retired_at = None
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"another activation for v{row.version}'s collection/space/unit won the race"
        ) from None
    return version_record(row)


def get_active_version(
    session: Session, collection_id: int, space_id: int, unit: str
) -> IndexVersionRecord | None:
    _check_unit(unit)
    row = session.scalar(
        select(IndexVersion).where(
            IndexVersion.collection_id == collection_id,
            IndexVersion.space_id == space_id,
            IndexVersion.unit == unit,
            IndexVersion.status == "active",
        )
    )
    return None if row is None else version_record(row)


def get_version(session: Session, version_id: int) -> IndexVersionRecord:
    return version_record(_row(session, version_id))


def find_version(
    session: Session, collection_id: int, space_id: int, unit: str, version: int
) -> IndexVersionRecord:
    row = session.scalar(
        select(IndexVersion).where(
            IndexVersion.collection_id == collection_id,
            IndexVersion.space_id == space_id,
            IndexVersion.unit == unit,
            IndexVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(f"index version v{version} ({unit}) does not exist")
    return version_record(row)


def list_versions(
    session: Session,
    collection_id: int | None = None,
    space_id: int | None = None,
    unit: str | None = None,
    statuses: tuple[str, ...] = (),
) -> list[IndexVersionRecord]:
    """Versions, newest first within each key."""
    query = select(IndexVersion)
    if collection_id is not None:
        query = query.where(IndexVersion.collection_id == collection_id)
    if space_id is not None:
        query = query.where(IndexVersion.space_id == space_id)
    if unit is not None:
        _check_unit(unit)
        query = query.where(IndexVersion.unit == unit)
    if statuses:
        query = query.where(IndexVersion.status.in_(list(statuses)))
    query = query.order_by(
        IndexVersion.collection_id, IndexVersion.space_id, IndexVersion.unit, IndexVersion.version.desc()
    )
    return [version_record(r) for r in session.scalars(query)]


def list_active_versions(session: Session) -> list[IndexVersionRecord]:
    """Every active version (the server polls this to notice activations)."""
    return list_versions(session, statuses=("active",))


def rollback_version(session: Session, collection_id: int, space_id: int, unit: str) -> IndexVersionRecord:
    """Re-activate the newest ready/retired version older than the active one."""
    active = get_active_version(session, collection_id, space_id, unit)
    if active is None:
        raise Conflict("no active index version to roll back from")
    previous = session.scalar(
        select(IndexVersion)
        .where(
            IndexVersion.collection_id == collection_id,
            IndexVersion.space_id == space_id,
            IndexVersion.unit == unit,
            IndexVersion.version < active.version,
            IndexVersion.status.in_(["ready", "retired"]),
        )
        .order_by(IndexVersion.version.desc())
        .limit(1)
    )
    if previous is None:
        raise Conflict(f"no earlier ready or retired version to roll back to from v{active.version}")
    return activate_version(session, previous.id)


def versions_to_prune(
    session: Session, collection_id: int, space_id: int, unit: str, keep: int
) -> list[IndexVersionRecord]:
    """Retired/failed versions beyond the newest `keep` non-active ones (their files may go)."""
    if keep < 0:
        raise InvalidRequest("keep must be >= 0")
    candidates = [
        v
        for v in list_versions(session, collection_id, space_id, unit)
        if v.status in ("retired", "failed", "ready")
    ]
    # Never prune a ready version newer than the active one: it may be about to be activated.
    active = get_active_version(session, collection_id, space_id, unit)
    if active is not None:
        candidates = [v for v in candidates if v.status != "ready" or v.version < active.version]
    return candidates[keep:]


def delete_version(session: Session, version_id: int) -> None:
    row = _row(session, version_id)
    if row.status == "active":
        raise Conflict(f"index version v{row.version} is active and cannot be deleted")
    session.delete(row)
    session.flush()
