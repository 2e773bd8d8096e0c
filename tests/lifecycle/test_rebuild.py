"""Rebuilds end to end on real files, a real tiny model, real FAISS and SQLite — and a live server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from clipsearch.client import SearchClient
from clipsearch.config import Settings
from clipsearch.lifecycle.database import open_database
from clipsearch.lifecycle.leases import HeldLease, LeaseHeld, make_holder, rebuild_lease_name
from clipsearch.lifecycle.rebuild import Rebuilder, RebuildOptions
from clipsearch.lifecycle.steps import rebuild_work
from clipsearch.lifecycle.versions import list_version_views, rollback
from clipsearch.storage import jobs
from helpers.servers import ServerThread

from .conftest import lifecycle_settings, write_images


@pytest.fixture
def settings(tmp_path: Path, tiny_model: Path) -> Settings:
    write_images(tmp_path / "photos", 12)
    return lifecycle_settings(tmp_path, tiny_model)


def _rebuilder(settings: Settings) -> Rebuilder:
    return Rebuilder(open_database(settings), rebuild_work(settings), lease_seconds=30.0)


def test_rebuild_indexes_builds_activates_and_is_idempotent(settings: Settings, tmp_path: Path) -> None:
    rebuilder = _rebuilder(settings)
    first = rebuilder.run("photos")
    assert first.outcome == "rebuilt"
    assert first.details["index"]["indexed"] == 12
    (built,) = first.details["built"]
    assert (built["status"], built["version"], built["ntotal"]) == ("activated", 1, 12)
    assert {"index", "plan", "build", "compact", "total"} <= set(first.details["timings"])

    again = rebuilder.run("photos")  # nothing changed: cheap, no new version
    assert again.outcome == "up_to_date"
    assert again.details["built"] == []
    assert [(v.version, v.status) for v in list_version_views(rebuilder.db, "photos")] == [(1, "active")]

    (tmp_path / "photos" / "img000.png").unlink()
    write_images(tmp_path / "photos", 3, start=100)
    third = rebuilder.run("photos")
    assert third.outcome == "rebuilt"
    assert (third.details["index"]["indexed"], third.details["index"]["deleted"]) == (3, 1)
    assert third.details["built"][0]["ntotal"] == 14
    assert third.details["keys"]["default/item"]["drift"]["growth"] == pytest.approx(2 / 12, abs=1e-3)
    views = list_version_views(rebuilder.db, "photos")
    assert [(v.version, v.status) for v in views] == [(2, "active"), (1, "retired")]

    forced = rebuilder.run("photos", options=RebuildOptions(force_build=True))
    assert forced.outcome == "rebuilt" and forced.details["built"][0]["version"] == 3

    with rebuilder.db.session() as session:
        recorded = jobs.list_jobs(session, kind="rebuild")
    assert [j.state for j in recorded] == ["succeeded"] * 4
    assert [j.details["outcome"] for j in recorded] == ["rebuilt", "rebuilt", "up_to_date", "rebuilt"]


def test_a_held_lease_refuses_a_second_rebuild_and_a_queued_job_records_why(settings: Settings) -> None:
    rebuilder = _rebuilder(settings)
    job_id = rebuilder.create_job("photos", trigger="rpc")
    with HeldLease(rebuilder.db, rebuild_lease_name("photos"), make_holder("other"), 30.0):
        with pytest.raises(LeaseHeld):
            rebuilder.run("photos")
        with pytest.raises(LeaseHeld):
            rebuilder.run("photos", job_id=job_id)
    with rebuilder.db.session() as session:
        (job,) = jobs.list_jobs(session, kind="rebuild")
    assert (job.id, job.state, job.details["outcome"]) == (job_id, "failed", "skipped")
    assert "held by other@" in (job.error or "")


class QueryLoop:
    """Vector queries back to back from a thread; remembers every served version and every failure."""

    def __init__(self, target: str, vector: list[float]) -> None:
        self.target = target
        self.vector = vector
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with SearchClient(self.target, timeout=10.0) as client:
            while not self.stop.is_set():
                try:
                    result = client.search(collection="photos", vector=self.vector, top_k=5)
                except Exception as exc:  # every failure is recorded; the test demands none
                    self.failures.append(repr(exc))
                    continue
                self.versions.extend(v.version for v in result.index_versions if v.unit == "item")

    def wait_for(self, version: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.versions and self.versions[-1] == version:
                return
            time.sleep(0.05)
        raise AssertionError(f"server never served version {version}; last: {self.versions[-5:]}")

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(15)


def test_rebuild_and_rollback_swap_under_continuous_queries_without_a_failure(
    settings: Settings, tmp_path: Path
) -> None:
    rebuilder = _rebuilder(settings)
    assert rebuilder.run("photos").outcome == "rebuilt"
    server = ServerThread(settings)
    queries: QueryLoop | None = None
    try:
        rng = np.random.default_rng(0)
        vector = [float(x) for x in rng.standard_normal(32)]
        queries = QueryLoop(server.target, vector)
        queries.wait_for("1")

        write_images(tmp_path / "photos", 4, start=200)
        assert rebuilder.run("photos").outcome == "rebuilt"
        queries.wait_for("2")

        (back,) = rollback(rebuilder.db, "photos")
        assert back.version == 1
        queries.wait_for("1")
        served = len(queries.versions)
    finally:
        if queries is not None:
            queries.finish()
        server.stop()
    assert queries.failures == []
    assert served > 20
    # The version sequence goes 1 → 2 → 1 with no flapping in between.
    changes = [v for i, v in enumerate(queries.versions) if i == 0 or queries.versions[i - 1] != v]
    assert changes[:3] == ["1", "2", "1"]
