"""The one-screen overview behind `clipsearch status` and `AdminService.GetStatus`.

Collections are the union of the configured ones and the ones in the database (a configured
collection that was never indexed still shows, with zero assets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clipsearch.config import Settings
from clipsearch.errors import NotFound
from clipsearch.lifecycle.leases import rebuild_lease_name
from clipsearch.lifecycle.scheduler import ScheduleView
from clipsearch.lifecycle.versions import VersionView, view
from clipsearch.storage import assets, catalog, jobs, leases, schedules, versions
from clipsearch.storage.db import Database
from clipsearch.storage.records import JobRecord


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    kind: str
    collection: str
    state: str
    progress: float
    error: str | None
    details: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "collection": self.collection,
            "state": self.state,
            "progress": self.progress,
            "error": self.error,
            "details": self.details,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "seconds": self.seconds,
        }


def job_view(record: JobRecord, collection: str) -> JobView:
    return JobView(
        record.id,
        record.kind,
        collection,
        record.state,
        record.progress,
        record.error,
        dict(record.details),
        record.created_at,
        record.started_at,
        record.ended_at,
    )


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    name: str
    configured: bool
    spaces: tuple[str, ...]
    assets: dict[str, int]
    active_versions: tuple[VersionView, ...]
    last_jobs: tuple[JobView, ...]
    schedules: tuple[ScheduleView, ...]
    lease_holder: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "configured": self.configured,
            "spaces": list(self.spaces),
            "assets": dict(self.assets),
            "active_versions": [v.as_dict() for v in self.active_versions],
            "last_jobs": [j.as_dict() for j in self.last_jobs],
            "schedules": [s.as_dict() for s in self.schedules],
            "lease_holder": self.lease_holder or None,
        }


def collection_statuses(
    db: Database, settings: Settings, *, collection: str | None = None, job_limit: int = 5
) -> list[CollectionStatus]:
    """Status of every collection (or one); NotFound for a name neither configured nor stored."""
    with db.session() as session:
        stored = {c.name: c for c in catalog.list_collections(session)}
        names = sorted(set(stored) | set(settings.collections))
        if collection is not None:
            if collection not in names:
                raise NotFound(f"collection '{collection}' is neither configured nor in the database")
            names = [collection]
        spaces = {s.id: s.name for s in catalog.list_spaces(session)}
        out = []
        for name in names:
            configured = settings.collections.get(name)
            space_names = tuple(configured.spaces) if configured else ()
            record = stored.get(name)
            lease = leases.get_lease(session, rebuild_lease_name(name))
            if record is None:
                out.append(
                    CollectionStatus(
                        name,
                        configured is not None,
                        space_names,
                        {},
                        (),
                        (),
                        (),
                        lease.holder if lease else "",
                    )
                )
                continue
            active = versions.list_versions(session, record.id, statuses=("active",))
            active_views = tuple(view(v, name, spaces.get(v.space_id, f"#{v.space_id}")) for v in active)
            if not space_names:
                space_names = tuple(sorted({v.space for v in active_views}))
            out.append(
                CollectionStatus(
                    name=name,
                    configured=configured is not None,
                    spaces=space_names,
                    assets=assets.count_assets(session, record.id),
                    active_versions=active_views,
                    last_jobs=tuple(
                        job_view(j, name)
                        for j in jobs.list_jobs(session, collection_id=record.id, limit=job_limit)
                    ),
                    schedules=tuple(
                        ScheduleView(s.id, name, s.kind, s.cron, s.enabled, s.last_fired_at, s.next_fire_at)
                        for s in schedules.list_schedules(session, record.id)
                    ),
                    lease_holder=lease.holder if lease else "",
                )
            )
    return out


def get_job_view(db: Database, job_id: int) -> JobView:
    with db.session() as session:
        record = jobs.get_job(session, job_id)
        name = (
            catalog.get_collection_by_id(session, record.collection_id).name if record.collection_id else ""
        )
    return job_view(record, name)
