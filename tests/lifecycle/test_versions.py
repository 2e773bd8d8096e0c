"""Version list / activate / rollback / GC semantics on a real database and real version folders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from clipsearch.errors import Conflict, InvalidRequest, NotFound
from clipsearch.lifecycle.leases import HeldLease, LeaseHeld, make_holder, rebuild_lease_name
from clipsearch.lifecycle.versions import (
    activate,
    active_version_views,
    collect_garbage,
    find_version_id,
    list_version_views,
    rollback,
)
from clipsearch.storage import catalog, versions
from clipsearch.storage.db import Database
from clipsearch.storage.models import utcnow


def _make_versions(
    db: Database, data_dir: Path, count: int, *, space: str = "default", unit: str = "item"
) -> list[int]:
    """`count` ready versions with a folder each; the last one is activated after each build."""
    ids = []
    with db.session() as session:
        collection_id = catalog.ensure_collection(session, "photos").id
        space_id = catalog.ensure_space(
            session, space, fingerprint=f"fp-{space}", dim=8, context_length=77
        ).id
    for _ in range(count):
        with db.session() as session:
            number = versions.next_version_number(session, collection_id, space_id, unit)
            folder = data_dir / "indexes" / "photos" / space / unit / f"v{number}"
            folder.mkdir(parents=True)
            (folder / "index.faiss").write_bytes(b"x" * 1000)
            record = versions.create_version(
                session, collection_id, space_id, unit, factory="Flat", path=str(folder)
            )
            versions.mark_version_ready(session, record.id, ntotal=10 * number, metrics={"recall_at_10": 1.0})
            versions.activate_version(session, record.id)
        ids.append(record.id)
    return ids


def test_list_shows_newest_first_with_one_active(db: Database, tmp_path: Path) -> None:
    _make_versions(db, tmp_path, 3)
    listed = list_version_views(db, "photos")
    assert [(v.version, v.status) for v in listed] == [(3, "active"), (2, "retired"), (1, "retired")]
    assert listed[0].recall == 1.0 and listed[0].ntotal == 30
    assert [v.version for v in active_version_views(db, "photos")] == [3]
    with pytest.raises(NotFound):
        list_version_views(db, "nope")
    with pytest.raises(InvalidRequest):
        list_version_views(db, "photos", unit="page")


def test_activate_and_rollback_move_the_single_active_version(db: Database, tmp_path: Path) -> None:
    ids = _make_versions(db, tmp_path, 3)
    moved = activate(db, "photos", ids[0])
    assert moved.activated.version == 1 and moved.previous is not None and moved.previous.version == 3
    assert [v.version for v in active_version_views(db, "photos")] == [1]
    with pytest.raises(Conflict):  # nothing older than v1 to go back to
        rollback(db, "photos")
    activate(db, "photos", find_version_id(db, "photos", "default", "item", 3))
    (back,) = rollback(db, "photos")
    assert back.version == 2
    statuses = {v.version: v.status for v in list_version_views(db, "photos")}
    assert statuses == {3: "retired", 2: "active", 1: "retired"}


def test_activate_refuses_a_version_of_another_collection_and_failed_versions(
    db: Database, tmp_path: Path
) -> None:
    ids = _make_versions(db, tmp_path, 2)
    with db.session() as session:
        catalog.ensure_collection(session, "other")
        versions.mark_version_failed(session, ids[0], "recall gate")
    with pytest.raises(NotFound):
        activate(db, "other", ids[1])
    with pytest.raises(Conflict):
        activate(db, "photos", ids[0])


def test_rollback_of_every_space_is_one_transaction(db: Database, tmp_path: Path) -> None:
    _make_versions(db, tmp_path, 2, space="default")
    _make_versions(db, tmp_path, 1, space="long")  # no earlier version: the whole rollback must fail
    with pytest.raises(Conflict):
        rollback(db, "photos")
    assert sorted((v.space, v.version) for v in active_version_views(db, "photos")) == [
        ("default", 2),
        ("long", 1),
    ]
    (back,) = rollback(db, "photos", space="default")
    assert (back.space, back.version) == ("default", 1)


def test_gc_keeps_active_and_last_k_and_respects_the_age_floor(db: Database, tmp_path: Path) -> None:
    ids = _make_versions(db, tmp_path, 6)
    activate(db, "photos", ids[2])  # v3 active again (a rollback target was used); v6 retired just now
    # Too young: everything retired in the last hour stays.
    young = collect_garbage(db, "photos", keep=2, min_age_seconds=3600, data_dir=tmp_path, lease_seconds=30)
    assert young.deleted == ()
    later = utcnow() + timedelta(hours=2)
    planned = collect_garbage(
        db,
        "photos",
        keep=2,
        min_age_seconds=3600,
        data_dir=tmp_path,
        lease_seconds=30,
        now=later,
        dry_run=True,
    )
    assert sorted(v.version for v in planned.deleted) == [1, 2, 4]
    assert len(list_version_views(db, "photos")) == 6  # a dry run deletes nothing
    report = collect_garbage(
        db, "photos", keep=2, min_age_seconds=3600, data_dir=tmp_path, lease_seconds=30, now=later
    )
    assert sorted(v.version for v in report.deleted) == [1, 2, 4]
    assert report.freed_bytes == 3000
    left = {v.version: v.status for v in list_version_views(db, "photos")}
    assert left == {6: "retired", 5: "retired", 3: "active"}
    for version in (1, 2, 4):
        assert not (tmp_path / "indexes" / "photos" / "default" / "item" / f"v{version}").exists()
    for version in (3, 5, 6):
        assert (
            tmp_path / "indexes" / "photos" / "default" / "item" / f"v{version}" / "index.faiss"
        ).is_file()


def test_gc_waits_for_a_running_rebuild_and_leaves_outside_files_alone(db: Database, tmp_path: Path) -> None:
    ids = _make_versions(db, tmp_path / "elsewhere", 3)
    later = utcnow() + timedelta(hours=2)
    with HeldLease(db, rebuild_lease_name("photos"), make_holder("rebuild"), 30.0), pytest.raises(LeaseHeld):
        collect_garbage(
            db, "photos", keep=1, min_age_seconds=0, data_dir=tmp_path / "data", lease_seconds=30, now=later
        )
    report = collect_garbage(
        db, "photos", keep=1, min_age_seconds=0, data_dir=tmp_path / "data", lease_seconds=30, now=later
    )
    assert [v.id for v in report.deleted] == [ids[0]]
    assert report.freed_bytes == 0
    assert (tmp_path / "elsewhere" / "indexes" / "photos" / "default" / "item" / "v1").is_dir()
