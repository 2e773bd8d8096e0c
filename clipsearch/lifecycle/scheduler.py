"""The rebuild scheduler: schedules live in the database; `Scheduler.run` fires them.

Why our own loop and not APScheduler's job stores: two APScheduler processes sharing one job store
can both fire a job. Here every firing is claimed with a conditional UPDATE on the schedule's
`next_fire_at` (`storage.schedule_claims`), so any number of scheduler processes, and restarts, fire
each slot at most once. APScheduler's `CronTrigger` still does the calendar arithmetic (`triggers.py`).

Rules, in one place:
- a slot is due when `next_fire_at <= now`; the winner of the claim moves `next_fire_at` to the first
  slot after *now* (coalescing: after downtime there is one catch-up run, never a burst);
- a slot later than `misfire_grace_seconds` is skipped (logged), not run;
- a slot whose previous run is still going in this process is skipped (no overlap, no queue);
  across processes the collection lease gives the same guarantee (`LeaseHeld`, logged as skipped);
- each run goes through the action (normally `Rebuilder.run`), which records it as a Job;
- `run(stop)` returns when `stop` is set, after the runs in progress have finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from clipsearch.errors import ClipsearchError, InvalidRequest, NotFound
from clipsearch.lifecycle.leases import LeaseHeld
from clipsearch.lifecycle.triggers import parse_trigger
from clipsearch.storage import catalog, schedule_claims, schedules
from clipsearch.storage.db import Database
from clipsearch.storage.models import utcnow

log = logging.getLogger(__name__)

SCHEDULE_KINDS = ("rebuild",)


@dataclass(frozen=True, slots=True)
class ScheduleView:
    id: int
    collection: str
    kind: str
    cron: str
    enabled: bool
    last_fired_at: datetime | None
    next_fire_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "collection": self.collection,
            "kind": self.kind,
            "cron": self.cron,
            "enabled": self.enabled,
            "last_fired_at": self.last_fired_at.isoformat() if self.last_fired_at else None,
            "next_fire_at": self.next_fire_at.isoformat() if self.next_fire_at else None,
        }


@dataclass(frozen=True, slots=True)
class Firing:
    """One claimed slot of one schedule."""

    schedule_id: int
    collection: str
    kind: str
    slot: datetime
    fired_at: datetime


def add_schedule(
    db: Database, collection: str, expression: str, *, kind: str = "rebuild", now: datetime | None = None
) -> ScheduleView:
    """Create or replace the `kind` schedule of a collection; the first slot is planned right away."""
    if kind not in SCHEDULE_KINDS:
        raise InvalidRequest(f"schedule kind must be one of {', '.join(SCHEDULE_KINDS)} (got {kind!r})")
    trigger = parse_trigger(expression)
    first = trigger.next_after(now or utcnow())
    with db.session() as session:
        record = catalog.ensure_collection(session, collection)
        row = schedules.upsert_schedule(session, record.id, trigger.expression, kind=kind, next_fire_at=first)
    return ScheduleView(
        row.id, collection, row.kind, row.cron, row.enabled, row.last_fired_at, row.next_fire_at
    )


def list_schedule_views(db: Database, collection: str | None = None) -> list[ScheduleView]:
    with db.session() as session:
        names = {c.id: c.name for c in catalog.list_collections(session)}
        collection_id = catalog.get_collection(session, collection).id if collection else None
        rows = schedules.list_schedules(session, collection_id)
    return [
        ScheduleView(
            r.id, names.get(r.collection_id, "?"), r.kind, r.cron, r.enabled, r.last_fired_at, r.next_fire_at
        )
        for r in rows
    ]


def remove_schedule(db: Database, collection: str, *, kind: str = "rebuild") -> int:
    """Delete the `kind` schedule of a collection; returns its id (NotFound when there is none)."""
    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        for row in schedules.list_schedules(session, collection_id):
            if row.kind == kind:
                schedules.delete_schedule(session, row.id)
                return row.id
    raise NotFound(f"collection '{collection}' has no {kind} schedule")


class Scheduler:
    """Claims due slots in the database and runs `action` for each in a worker thread."""

    def __init__(
        self,
        db: Database,
        action: Callable[[Firing], object],
        *,
        misfire_grace_seconds: float,
        poll_seconds: float = 1.0,
        max_workers: int = 2,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.action = action
        self.misfire_grace_seconds = misfire_grace_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="schedule")
        self._running: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def tick(self) -> float:
        """Claim and start every due slot; returns how long to sleep before the next tick."""
        now = self.clock()
        with self.db.session() as session:
            names = {c.id: c.name for c in catalog.list_collections(session)}
            due = schedules.list_schedules(session, enabled_only=True)
        wait = self.poll_seconds
        for row in due:
            try:
                trigger = parse_trigger(row.cron)
            except InvalidRequest as exc:
                log.error("schedule %d (%s) is invalid and never fires: %s", row.id, row.cron, exc)
                continue
            if row.next_fire_at is None:  # written by another tool: plan its first slot
                self._claim(row.id, None, trigger.next_after(now, row.last_fired_at), fired_at=None)
                continue
            if row.next_fire_at > now:
                wait = min(wait, (row.next_fire_at - now).total_seconds())
                continue
            slot = row.next_fire_at
            next_slot = trigger.next_after(now, previous_slot=slot)
            late = (now - slot).total_seconds()
            missed = late > self.misfire_grace_seconds
            busy = self._busy(row.id)
            fire = not missed and not busy
            if not self._claim(row.id, slot, next_slot, fired_at=now if fire else None):
                continue  # another scheduler process claimed this slot
            wait = min(wait, (next_slot - now).total_seconds())
            collection = names.get(row.collection_id, f"#{row.collection_id}")
            if missed:
                log.warning(
                    "schedule %d (%s %s): slot %s missed by %.0fs (grace %.0fs); next at %s",
                    row.id, row.kind, collection, slot.isoformat(), late, self.misfire_grace_seconds,
                    next_slot.isoformat(),
                )  # fmt: skip
            elif busy:
                log.warning(
                    "schedule %d (%s %s): previous run still going; slot %s skipped",
                    row.id, row.kind, collection, slot.isoformat(),
                )  # fmt: skip
            else:
                firing = Firing(row.id, collection, row.kind, slot, now)
                with self._lock:
                    self._running[row.id] = self._executor.submit(self._run_one, firing)
        return max(0.0, wait)

    def _claim(
        self, schedule_id: int, expected: datetime | None, next_slot: datetime, *, fired_at: datetime | None
    ) -> bool:
        with self.db.session() as session:
            return schedule_claims.claim_schedule_slot(
                session,
                schedule_id,
                expected_next_fire_at=expected,
                next_fire_at=next_slot,
                fired_at=fired_at,
            )

    def _busy(self, schedule_id: int) -> bool:
        with self._lock:
            future = self._running.get(schedule_id)
            return future is not None and not future.done()

    def _run_one(self, firing: Firing) -> None:
        log.info(
            "schedule %d fires: %s %s (slot %s)",
            firing.schedule_id,
            firing.kind,
            firing.collection,
            firing.slot,
        )
        try:
            self.action(firing)
        except LeaseHeld as exc:
            log.info(
                "schedule %d: %s %s skipped: %s", firing.schedule_id, firing.kind, firing.collection, exc
            )
        except ClipsearchError as exc:  # the Job row has the details already
            log.error(
                "schedule %d: %s %s failed: %s", firing.schedule_id, firing.kind, firing.collection, exc
            )
        except Exception:
            log.exception("schedule %d: %s %s crashed", firing.schedule_id, firing.kind, firing.collection)

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set, then wait for the runs in progress (graceful stop)."""
        log.info(
            "scheduler started (poll %.1fs, misfire grace %.0fs)",
            self.poll_seconds,
            self.misfire_grace_seconds,
        )
        try:
            while not stop.is_set():
                try:
                    wait = self.tick()
                except ClipsearchError as exc:  # database briefly unavailable: keep going
                    log.error("scheduler tick failed: %s", exc)
                    wait = self.poll_seconds
                stop.wait(max(wait, 0.01))
        finally:
            log.info("scheduler stopping; waiting for %d run(s) in progress", self.in_progress())
            self.shutdown()

    def in_progress(self) -> int:
        with self._lock:
            return sum(1 for f in self._running.values() if not f.done())

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait)
