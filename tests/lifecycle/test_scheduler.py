"""The scheduler: seconds-level cron fires rebuilds recorded as Jobs, never overlaps, never double-fires."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clipsearch.errors import NotFound
from clipsearch.lifecycle.rebuild import RebuildContext, Rebuilder
from clipsearch.lifecycle.scheduler import (
    Firing,
    Scheduler,
    add_schedule,
    list_schedule_views,
    remove_schedule,
)
from clipsearch.storage import jobs
from clipsearch.storage.db import Database

T0 = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """An action that records the firings it was given (thread-safe)."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []
        self._lock = threading.Lock()

    def __call__(self, firing: Firing) -> None:
        with self._lock:
            self.firings.append(firing)


def _scheduler(db: Database, action: Any, clock: FakeClock, grace: float = 60.0) -> Scheduler:
    return Scheduler(db, action, misfire_grace_seconds=grace, clock=clock)


def _settle(schedulers: list[Scheduler]) -> None:
    deadline = time.monotonic() + 10
    while any(s.in_progress() for s in schedulers) and time.monotonic() < deadline:
        time.sleep(0.01)


def _tick(scheduler: Scheduler) -> None:
    scheduler.tick()
    scheduler.shutdown(wait=True)  # the action ran to the end before we look


def test_schedules_are_stored_listed_replaced_and_removed(db: Database) -> None:
    first = add_schedule(db, "photos", "*/5 * * * *", now=T0)
    assert first.next_fire_at == T0 + timedelta(minutes=5)
    replaced = add_schedule(db, "photos", "@every 30s", now=T0)
    assert replaced.id == first.id and replaced.cron == "@every 30s"
    add_schedule(db, "videos", "0 3 * * *", now=T0)
    views = list_schedule_views(db)
    assert [(v.collection, v.cron) for v in views] == [("photos", "@every 30s"), ("videos", "0 3 * * *")]
    assert remove_schedule(db, "photos") == first.id
    with pytest.raises(NotFound):
        remove_schedule(db, "photos")
    assert [v.collection for v in list_schedule_views(db)] == ["videos"]


def test_two_schedulers_at_the_same_moment_fire_a_slot_once(any_db_url: str) -> None:
    dbs = [Database(any_db_url), Database(any_db_url)]  # two engines = two scheduler processes
    dbs[0].create_all()
    add_schedule(dbs[0], "photos", "@every 10s", now=T0)
    clock = FakeClock(T0 + timedelta(seconds=10))
    recorders = [Recorder(), Recorder()]
    schedulers = [_scheduler(d, r, clock) for d, r in zip(dbs, recorders, strict=True)]
    for _ in range(3):
        for scheduler in schedulers:
            scheduler.tick()
        _settle(schedulers)  # each run ends before the next slot (else it is skipped as busy)
        clock.now += timedelta(seconds=10)
    for scheduler in schedulers:
        scheduler.shutdown(wait=True)
    slots = sorted(f.slot for r in recorders for f in r.firings)
    assert slots == [T0 + timedelta(seconds=s) for s in (10, 20, 30)]
    for d in dbs:
        d.dispose()


def test_a_restart_neither_refires_nor_bursts_and_catches_up_once(db: Database) -> None:
    add_schedule(db, "photos", "@every 10s", now=T0)
    clock = FakeClock(T0 + timedelta(seconds=10))
    first = Recorder()
    _tick(_scheduler(db, first, clock))
    assert [f.slot for f in first.firings] == [T0 + timedelta(seconds=10)]

    # Restart at the same moment: the slot was claimed in the database, so nothing fires again.
    again = Recorder()
    _tick(_scheduler(db, again, clock))
    assert again.firings == []

    # Down for ~5 slots (within the grace): one catch-up run, and the grid continues after now.
    clock.now = T0 + timedelta(seconds=65)
    after = Recorder()
    scheduler = _scheduler(db, after, clock, grace=120.0)
    scheduler.tick()
    _settle([scheduler])
    scheduler.tick()
    scheduler.shutdown(wait=True)
    assert [f.slot for f in after.firings] == [T0 + timedelta(seconds=20)]
    (view,) = list_schedule_views(db)
    assert view.next_fire_at == T0 + timedelta(seconds=70)
    assert view.last_fired_at == clock.now


def test_a_slot_missed_beyond_the_grace_is_skipped_not_run(db: Database) -> None:
    add_schedule(db, "photos", "@every 10s", now=T0)
    clock = FakeClock(T0 + timedelta(seconds=500))
    recorder = Recorder()
    _tick(_scheduler(db, recorder, clock, grace=30.0))
    assert recorder.firings == []
    (view,) = list_schedule_views(db)
    assert view.next_fire_at == T0 + timedelta(seconds=510)
    assert view.last_fired_at is None


def _job_rows(db: Database) -> list[Any]:
    with db.session() as session:
        return list(reversed(jobs.list_jobs(session, kind="rebuild", limit=100)))


def test_seconds_level_cron_fires_rebuilds_recorded_as_jobs_without_overlap(db: Database) -> None:
    """A rebuild that outlasts its 1 s interval: later slots are skipped, runs never overlap."""
    spans: list[tuple[float, float]] = []
    active = threading.Semaphore(1)

    def slow_rebuild(ctx: RebuildContext) -> Mapping[str, Any]:
        assert active.acquire(blocking=False), "two rebuilds of one collection overlapped"
        start = time.monotonic()
        try:
            with ctx.step("build"):
                time.sleep(1.6)
        finally:
            spans.append((start, time.monotonic()))
            active.release()
        return {"outcome": "rebuilt"}

    rebuilder = Rebuilder(db, slow_rebuild, lease_seconds=30.0, holder_role="scheduler")
    add_schedule(db, "photos", "* * * * * *")  # every second
    scheduler = Scheduler(
        db,
        lambda firing: rebuilder.run(firing.collection, trigger="schedule"),
        misfire_grace_seconds=5.0,
        poll_seconds=0.1,
        max_workers=2,
    )
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    time.sleep(4.2)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()

    rows = _job_rows(db)
    assert len(rows) >= 2, rows  # ~4 one-second slots, each run takes 1.6 s
    assert len(rows) <= 3
    assert all(r.state == "succeeded" for r in rows)
    assert all(r.details["trigger"] == "schedule" and r.details["timings"]["build"] >= 1.6 for r in rows)
    ordered = sorted(spans)
    assert all(prev_end <= next_start for (_, prev_end), (next_start, _) in itertools.pairwise(ordered))
    (view,) = list_schedule_views(db)
    assert view.last_fired_at is not None and view.next_fire_at is not None
