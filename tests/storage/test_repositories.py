"""Repository functions on both engines: records in, records out, errors from clipsearch.errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from operator import attrgetter

import pytest

from clipsearch.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from clipsearch.storage import assets, catalog, jobs, leases, schedules, vector_refs, versions
from clipsearch.storage.db import Database
from clipsearch.storage.records import AssetSummary, NewVectorRef


def test_collections_sources_and_spaces(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "photos", "holiday pictures")
        catalog.ensure_source(s, c.id, "/data/photos", "directory")
        catalog.ensure_source(s, c.id, "/data/photos", "directory")
        space = catalog.ensure_space(s, "default", fingerprint="fp-a", dim=512, context_length=77)
    with db.session() as s:
        assert catalog.get_collection(s, "photos") == c
        assert [x.path for x in catalog.list_sources(s, c.id)] == ["/data/photos"]
        assert catalog.ensure_space(s, "default", fingerprint="fp-a", dim=512, context_length=77) == space
        with pytest.raises(AlreadyExists):
            catalog.create_collection(s, "photos")
        with pytest.raises(Conflict, match="fp-a"):
            catalog.ensure_space(s, "default", fingerprint="fp-b", dim=512, context_length=77)
        with pytest.raises(NotFound):
            catalog.get_collection(s, "nope")
        with pytest.raises(InvalidRequest):
            catalog.create_collection(s, "a/b")
    with db.session() as s:
        replaced = catalog.replace_space(s, "default", fingerprint="fp-b", dim=256, context_length=77)
    assert (replaced.fingerprint, replaced.dim) == ("fp-b", 256)


def test_asset_upsert_detects_changes_and_round_trips_metadata(db: Database) -> None:
    meta = {"year": 2021, "tags": ["a", "b"], "nested": {"k": 1.5}, "ok": True, "none": None, "uni": "straße"}
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        first, changed = assets.upsert_asset(
            s, c.id, "file:///x.jpg", "image", content_hash="h1", size_bytes=10, mtime=1.5, metadata=meta
        )
        assert changed and first.status == "pending"
        assets.set_asset_status(s, first.id, "indexed")
    with db.session() as s:
        again, changed = assets.upsert_asset(
            s, c.id, "file:///x.jpg", "image", content_hash="h1", metadata=meta
        )
        assert not changed and again.status == "indexed" and again.indexed_at is not None
        assert again.metadata == meta
        edited, changed = assets.upsert_asset(s, c.id, "file:///x.jpg", "image", content_hash="h2")
        assert changed and edited.status == "pending"
        with pytest.raises(InvalidRequest):
            assets.upsert_asset(s, c.id, "file:///y.gif", "audio")
    with db.session() as s:
        assert assets.count_assets(s, c.id) == {"pending": 1, "indexed": 0, "failed": 0, "deleted": 0}
        assert assets.get_assets(s, [first.id, 999_999]).keys() == {first.id}
        assert assets.find_asset(s, c.id, "file:///x.jpg") is not None
        created = assets.get_asset(s, first.id).created_at
        assert created is not None and created.tzinfo is not None


def test_asset_summaries_carry_what_a_hit_shows(db: Database) -> None:
    """The searcher's hydration read: the same values as the full records, in chunks of any size."""
    meta = {"year": 2021, "tags": ["a", "b"], "nested": {"k": 1.5}, "uni": "straße"}
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        made = [
            assets.upsert_asset(s, c.id, f"file:///{i}.jpg", "image", metadata={**meta, "i": i})[0].id
            for i in range(1203)  # more than one IN (...) chunk
        ]
        video, _ = assets.upsert_asset(s, c.id, "file:///v.mp4", "video", duration_sec=12.5, text="a caption")
    summaries = assets.read_asset_summaries(db, [*made, video.id, 999_999, made[0]])
    with db.session() as s:
        full = assets.get_assets(s, [*made, video.id])
    assert summaries.keys() == full.keys()
    # Every field a summary has (id, uri, media type, metadata, text, duration) equals the record's.
    shown = attrgetter(*(f.name for f in dataclasses.fields(AssetSummary)))
    for asset_id, summary in summaries.items():
        assert shown(summary) == shown(full[asset_id])
    assert summaries[made[7]].metadata == {**meta, "i": 7}
    assert summaries[video.id].duration_sec == 12.5 and summaries[video.id].text == "a caption"


def test_keyset_pagination_and_failed_transaction_rolls_back(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        for i in range(25):
            assets.upsert_asset(s, c.id, f"u{i:02d}", "text", text=f"doc {i}")
    seen: list[str] = []
    after = 0
    with db.session() as s:
        while page := assets.list_assets(s, c.id, after_id=after, limit=10):
            seen += [a.uri for a in page]
            after = page[-1].id
    assert seen == [f"u{i:02d}" for i in range(25)]
    with pytest.raises(RuntimeError), db.session() as s:
        assets.upsert_asset(s, c.id, "lost", "text")
        raise RuntimeError("boom")
    with db.session() as s:
        assert assets.find_asset(s, c.id, "lost") is None


def test_frames_and_vector_refs(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "videos")
        space = catalog.ensure_space(s, "default", fingerprint="fp", dim=4, context_length=77)
        video, _ = assets.upsert_asset(s, c.id, "v.mp4", "video", duration_sec=3.0)
        frames = assets.replace_frames(s, video.id, [(0, 0.0), (1, 1.0), (2, 2.0)])
        refs = [NewVectorRef(video.id, 100)] + [
            NewVectorRef(video.id, 101 + i, f.id) for i, f in enumerate(frames)
        ]
        assert vector_refs.add_vector_refs(s, space.id, refs) == 4
        assets.set_asset_status(s, video.id, "indexed")
    with db.session() as s:
        assert vector_refs.vector_rows(s, c.id, space.id, "item").tolist() == [100]
        assert vector_refs.vector_rows(s, c.id, space.id, "frame").tolist() == [101, 102, 103]
        resolved = vector_refs.resolve_rows(s, space.id, [102, 100, 555])
        assert set(resolved) == {100, 102}
        assert resolved[102].frame_id == frames[1].id and resolved[102].unit == "frame"
        per_asset = vector_refs.refs_for_assets(s, space.id, [video.id], unit="frame")
        assert [r.row_id for r in per_asset[video.id]] == [101, 102, 103]
    # A second item vector for the same asset in the same space is refused by the database.
    with pytest.raises(Exception), db.session() as s:  # noqa: B017 - IntegrityError from either driver
        vector_refs.add_vector_refs(s, space.id, [NewVectorRef(video.id, 200)])
    with db.session() as s:
        assert vector_refs.remove_vector_refs(s, [video.id]) == [100, 101, 102, 103]
        assert vector_refs.live_row_ids(s, space.id).tolist() == []


def test_one_active_version_activation_and_rollback(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        space = catalog.ensure_space(s, "default", fingerprint="fp", dim=4, context_length=77)
        made = []
        for _ in range(3):
            v = versions.create_version(s, c.id, space.id, "item", factory="Flat", path="p")
            made.append(versions.mark_version_ready(s, v.id, ntotal=10, metrics={"recall_at_10": 1.0}))
        assert [v.version for v in made] == [1, 2, 3]
    with db.session() as s:
        for v in made:
            versions.activate_version(s, v.id)
    with db.session() as s:
        active = versions.get_active_version(s, c.id, space.id, "item")
        assert active is not None and active.version == 3
        statuses = {v.version: v.status for v in versions.list_versions(s, c.id, space.id, "item")}
        assert statuses == {3: "active", 2: "retired", 1: "retired"}
        assert versions.rollback_version(s, c.id, space.id, "item").version == 2
    with db.session() as s:
        statuses = {v.version: v.status for v in versions.list_versions(s, c.id, space.id, "item")}
        assert statuses == {3: "retired", 2: "active", 1: "retired"}
        building = versions.create_version(s, c.id, space.id, "item", factory="Flat", path="p")
        with pytest.raises(Conflict):
            versions.activate_version(s, building.id)
        with pytest.raises(Conflict):
            versions.delete_version(s, made[1].id)
        assert [v.version for v in versions.versions_to_prune(s, c.id, space.id, "item", keep=1)] == [1]
    # The partial unique index itself refuses a second active row, whatever the code path.
    from sqlalchemy import update

    from clipsearch.storage.models import IndexVersion

    with pytest.raises(Exception), db.session() as s:  # noqa: B017 - IntegrityError
        s.execute(update(IndexVersion).where(IndexVersion.id == made[0].id).values(status="active"))


def test_jobs_lifecycle(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        job = jobs.create_job(s, "index", c.id, {"paths": 3})
        jobs.start_job(s, job.id)
        jobs.update_job(s, job.id, progress=0.5, details={"done": 1})
        with pytest.raises(InvalidRequest):
            jobs.update_job(s, job.id, progress=1.5)
        done = jobs.finish_job(s, job.id, "succeeded")
        assert done.progress == 1.0 and done.details == {"paths": 3, "done": 1} and done.ended_at is not None
        with pytest.raises(Conflict):
            jobs.finish_job(s, job.id, "failed")
        other = jobs.create_job(s, "rebuild", c.id)
        jobs.start_job(s, other.id)
        assert jobs.fail_stale_jobs(s) == 1
        assert [j.state for j in jobs.list_jobs(s, collection_id=c.id)] == ["failed", "succeeded"]


def test_leases_are_exclusive_until_expiry(db: Database) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    with db.session() as s:
        assert leases.acquire_lease(s, "rebuild:c", "a", 30, now=t0)
    with db.session() as s:
        assert not leases.acquire_lease(s, "rebuild:c", "b", 30, now=t0 + timedelta(seconds=10))
        assert leases.acquire_lease(s, "rebuild:c", "a", 30, now=t0 + timedelta(seconds=10))
        assert leases.renew_lease(s, "rebuild:c", "a", 30, now=t0 + timedelta(seconds=20))
        assert not leases.renew_lease(s, "rebuild:c", "b", 30, now=t0 + timedelta(seconds=20))
        held = leases.get_lease(s, "rebuild:c", now=t0 + timedelta(seconds=21))
        assert held is not None and held.holder == "a"
    # "a" crashed: after expiry "b" takes over and "a" can no longer renew.
    with db.session() as s:
        assert leases.acquire_lease(s, "rebuild:c", "b", 30, now=t0 + timedelta(seconds=51))
        assert not leases.renew_lease(s, "rebuild:c", "a", 30, now=t0 + timedelta(seconds=52))
        assert not leases.release_lease(s, "rebuild:c", "a")
        assert leases.release_lease(s, "rebuild:c", "b")
        assert leases.get_lease(s, "rebuild:c") is None


def test_schedules(db: Database) -> None:
    fire = datetime(2030, 1, 1, 3, 0, tzinfo=UTC)
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        sched = schedules.upsert_schedule(s, c.id, "0 3 * * *", next_fire_at=fire)
        assert schedules.upsert_schedule(s, c.id, "0 4 * * *").id == sched.id
        schedules.record_fire(s, sched.id, fire, fire + timedelta(days=1))
        schedules.set_schedule_enabled(s, sched.id, False)
    with db.session() as s:
        (got,) = schedules.list_schedules(s, c.id)
        assert (got.cron, got.enabled, got.last_fired_at) == ("0 4 * * *", False, fire)
        assert schedules.list_schedules(s, enabled_only=True) == []
    with db.session() as s:
        catalog.delete_collection(s, "c")
    with db.session() as s:
        assert schedules.list_schedules(s) == []
