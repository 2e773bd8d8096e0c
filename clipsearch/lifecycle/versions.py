"""Index versions as operators see them: list, activate, roll back, garbage-collect.

Activation and rollback are one database transaction each (`storage.versions`); servers notice the
new active version at their next poll (`server.index_poll_seconds`) and swap it in without failing a
query, so moving forward and back is the same operation.

GC policy (per collection, space and unit): keep the active version, every `building` one, and the
`keep` newest other versions (the rollback targets); of the rest, delete only those that left
service more than `min_age_seconds` ago. Servers load an index fully into memory when it becomes
active, so a retired version's files are needed again only for a rollback, which the kept versions
cover; the age floor covers servers that have not polled yet when a version is retired. GC runs under
the collection's rebuild lease, so it never races a rebuild. The database row goes first, then the
files: a crash in between leaves stray files on disk, never a row pointing at missing files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.lifecycle.leases import HeldLease, make_holder, rebuild_lease_name
from clipsearch.storage import catalog, versions
from clipsearch.storage.db import Database
from clipsearch.storage.index_files import remove_version_dir
from clipsearch.storage.models import UNITS, utcnow
from clipsearch.storage.records import IndexVersionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VersionView:
    """An index version with its collection and space names (what CLI and RPC show)."""

    id: int
    collection: str
    space: str
    unit: str
    version: int
    status: str
    factory: str
    ntotal: int
    recall: float | None
    path: str
    metrics: dict[str, Any]
    error: str | None
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "space": self.space,
            "unit": self.unit,
            "version": self.version,
            "status": self.status,
            "factory": self.factory,
            "ntotal": self.ntotal,
            "recall": self.recall,
            "path": self.path,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }


def view(record: IndexVersionRecord, collection: str, space: str) -> VersionView:
    recall = record.metrics.get("recall_at_10")
    return VersionView(
        id=record.id,
        collection=collection,
        space=space,
        unit=record.unit,
        version=record.version,
        status=record.status,
        factory=record.factory,
        ntotal=record.ntotal,
        recall=float(recall) if isinstance(recall, int | float) else None,
        path=record.path,
        metrics=dict(record.metrics),
        error=record.error,
        created_at=record.created_at,
        activated_at=record.activated_at,
        retired_at=record.retired_at,
    )


def _check_unit(unit: str | None) -> None:
    if unit and unit not in UNITS:
        raise InvalidRequest(f"unit must be one of {', '.join(UNITS)} (got {unit!r})")


def list_version_views(
    db: Database, collection: str, *, space: str | None = None, unit: str | None = None
) -> list[VersionView]:
    """Versions of a collection, grouped by space and unit, newest first."""
    _check_unit(unit)
    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        spaces = {s.id: s.name for s in catalog.list_spaces(session)}
        space_id = catalog.get_space(session, space).id if space else None
        rows = versions.list_versions(session, collection_id, space_id, unit or None)
    return [view(r, collection, spaces.get(r.space_id, f"#{r.space_id}")) for r in rows]


def active_version_views(db: Database, collection: str) -> list[VersionView]:
    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        spaces = {s.id: s.name for s in catalog.list_spaces(session)}
        rows = versions.list_versions(session, collection_id, statuses=("active",))
    return [view(r, collection, spaces.get(r.space_id, f"#{r.space_id}")) for r in rows]


@dataclass(frozen=True, slots=True)
class Activation:
    activated: VersionView
    previous: VersionView | None


def activate(db: Database, collection: str, version_id: int) -> Activation:
    """Make version `version_id` (its database id) the active one of its space and unit, atomically."""
    with db.session() as session:
        record = versions.get_version(session, version_id)
        collection_record = catalog.get_collection(session, collection)
        if record.collection_id != collection_record.id:
            raise NotFound(f"index version id {version_id} does not belong to collection '{collection}'")
        space = catalog.get_space_by_id(session, record.space_id).name
        previous = versions.get_active_version(session, record.collection_id, record.space_id, record.unit)
        activated = versions.activate_version(session, version_id)
    log.info("activated %s/%s/%s v%d", collection, space, activated.unit, activated.version)
    return Activation(
        view(activated, collection, space),
        view(previous, collection, space) if previous is not None and previous.id != activated.id else None,
    )


def find_version_id(db: Database, collection: str, space: str, unit: str, number: int) -> int:
    """The database id of version `number` of (collection, space, unit)."""
    _check_unit(unit)
    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        space_id = catalog.get_space(session, space).id
        return versions.find_version(session, collection_id, space_id, unit, number).id


def rollback(
    db: Database, collection: str, *, space: str | None = None, unit: str | None = None
) -> list[VersionView]:
    """Re-activate the previous version of every matching (space, unit) that has an active one.

    All matching keys roll back in one transaction: either every one moves back or none does.
    """
    _check_unit(unit)
    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        spaces = {s.id: s.name for s in catalog.list_spaces(session)}
        space_id = catalog.get_space(session, space).id if space else None
        active = versions.list_versions(session, collection_id, space_id, unit or None, statuses=("active",))
        if not active:
            raise NotFound(f"collection '{collection}' has no active version to roll back from")
        done = [
            versions.rollback_version(session, collection_id, record.space_id, record.unit)
            for record in active
        ]
    for record in done:
        log.info(
            "rolled back %s/%s/%s to v%d", collection, spaces[record.space_id], record.unit, record.version
        )
    return [view(r, collection, spaces.get(r.space_id, f"#{r.space_id}")) for r in done]


@dataclass(frozen=True, slots=True)
class GcReport:
    deleted: tuple[VersionView, ...]
    kept: int
    freed_bytes: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": [v.as_dict() for v in self.deleted],
            "kept": self.kept,
            "freed_bytes": self.freed_bytes,
            "dry_run": self.dry_run,
        }


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def _left_service(record: IndexVersionRecord) -> datetime:
    return record.retired_at or record.ready_at or record.created_at


def collect_garbage(
    db: Database,
    collection: str,
    *,
    keep: int,
    min_age_seconds: float,
    data_dir: Path,
    lease_seconds: float,
    dry_run: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """Delete old versions of `collection` (rows, then files under `data_dir`) per the policy above."""
    if keep < 1:
        raise InvalidRequest(f"keep must be at least 1 (got {keep})")
    now = now or utcnow()
    cutoff = now - timedelta(seconds=min_age_seconds)
    root = data_dir.resolve()
    deleted: list[VersionView] = []
    freed = 0
    kept = 0
    with HeldLease(db, rebuild_lease_name(collection), make_holder("gc"), lease_seconds) as lease:
        with db.session() as session:
            collection_id = catalog.get_collection(session, collection).id
            spaces = {s.id: s.name for s in catalog.list_spaces(session)}
            everything = versions.list_versions(session, collection_id)
            keys = sorted({(v.space_id, v.unit) for v in everything})
            candidates: list[IndexVersionRecord] = []
            for space_id, unit in keys:
                prunable = versions.versions_to_prune(session, collection_id, space_id, unit, keep)
                candidates.extend(v for v in prunable if _left_service(v) <= cutoff)
        kept = len(everything) - len(candidates)
        for record in candidates:
            lease.check()
            path = Path(record.path)
            inside = path.resolve().is_relative_to(root)
            shown = view(record, collection, spaces.get(record.space_id, f"#{record.space_id}"))
            deleted.append(shown)
            freed += _size(path) if inside else 0
            if dry_run:
                continue
            with db.session() as session:
                versions.delete_version(session, record.id)
            if not inside:
                log.warning(
                    "version %d: %s is outside the data dir; its files were left alone", record.id, path
                )
            elif path.is_dir():
                remove_version_dir(path)  # renamed aside first: a half-deleted dir is never loaded
            elif path.exists():
                path.unlink(missing_ok=True)
            log.info("deleted %s/%s/%s v%d (%s)", collection, shown.space, record.unit, record.version, path)
    return GcReport(tuple(deleted), kept, freed, dry_run)
