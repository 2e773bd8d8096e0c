"""`Rebuilder`: one rebuild of one collection under its lease, recorded as a Job.

Order: acquire the collection lease (Conflict when held: exit code 75) → create (or take over) the
Job → mark interrupted rebuild jobs of the collection failed (we hold the lease, so nobody runs them)
→ run the work (rescan, embed, build, gate, activate, compact; see `steps.py`) with a heartbeat
renewing the lease → finish the Job with outcome, per-step timings and details → release the lease.

The work is injected (`RebuildWork`) so the scheduler and the admin RPC run exactly this code path,
and tests can run a deliberately slow rebuild through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clipsearch.errors import ClipsearchError, Conflict
from clipsearch.lifecycle.leases import HeldLease, make_holder, rebuild_lease_name
from clipsearch.storage import catalog, jobs
from clipsearch.storage.db import Database

log = logging.getLogger(__name__)

REBUILD_JOB_KIND = "rebuild"


@dataclass(frozen=True, slots=True)
class RebuildOptions:
    #: build and activate new versions even when nothing changed (normally "up to date").
    force_build: bool = False


@dataclass(slots=True)
class RebuildContext:
    """What the work sees: the collection, the database, the lease, progress and step timing."""

    collection: str
    collection_id: int
    job_id: int
    db: Database
    lease: HeldLease
    options: RebuildOptions
    timings: dict[str, float] = field(default_factory=dict)
    on_progress: Callable[[float, str], None] | None = None

    def check(self) -> None:
        """Stop (Conflict) when the lease was lost; call before anything with visible effects."""
        self.lease.check()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step; timings land in the Job's details."""
        self.check()
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 4)

    def progress(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, fraction))
        with self.db.session() as session:
            jobs.update_job(
                session, self.job_id, progress=fraction, details={"step": message} if message else None
            )
        if self.on_progress is not None:
            self.on_progress(fraction, message)


#: The rebuild itself; returns details for the Job ("outcome"; an "error" entry fails the Job).
RebuildWork = Callable[[RebuildContext], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class RebuildResult:
    job_id: int
    collection: str
    #: "rebuilt" (new versions activated) or "up_to_date" (nothing changed, nothing activated).
    outcome: str
    seconds: float
    details: dict[str, Any]


class Rebuilder:
    """Runs rebuilds; safe to call from several threads and processes (the lease serialises them)."""

    def __init__(
        self,
        db: Database,
        work: RebuildWork,
        *,
        lease_seconds: float,
        holder_role: str = "cli",
    ) -> None:
        self.db = db
        self.work = work
        self.lease_seconds = lease_seconds
        self.holder_role = holder_role

    def create_job(self, collection: str, *, trigger: str) -> int:
        """A queued Job for a rebuild that will run later (the admin RPC returns its id at once)."""
        with self.db.session() as session:
            record = catalog.ensure_collection(session, collection)
            job = jobs.create_job(session, REBUILD_JOB_KIND, record.id, {"trigger": trigger})
        return job.id

    def run(
        self,
        collection: str,
        *,
        options: RebuildOptions | None = None,
        job_id: int | None = None,
        trigger: str = "cli",
        on_progress: Callable[[float, str], None] | None = None,
    ) -> RebuildResult:
        """Rebuild `collection` now. Raises Conflict when another rebuild holds the lease.

        With `job_id` (a job made by `create_job`), a held lease or a failure is recorded on that job.
        Without it, a job is created only once the lease is ours (a skipped cron run leaves no row).
        """
        options = options or RebuildOptions()
        holder = make_holder(self.holder_role)
        lease = HeldLease(self.db, rebuild_lease_name(collection), holder, self.lease_seconds)
        try:
            lease.__enter__()
        except ClipsearchError as exc:
            if job_id is not None:
                self._finish(job_id, "failed", error=str(exc), details={"outcome": "skipped"})
            raise
        started = time.perf_counter()
        try:
            with self.db.session() as session:
                collection_id = catalog.ensure_collection(session, collection).id
                if job_id is None:
                    job_id = jobs.create_job(
                        session, REBUILD_JOB_KIND, collection_id, {"trigger": trigger}
                    ).id
                jobs.start_job(session, job_id)
                self._fail_interrupted(session, collection_id, job_id)
            context = RebuildContext(
                collection=collection,
                collection_id=collection_id,
                job_id=job_id,
                db=self.db,
                lease=lease,
                options=options,
                on_progress=on_progress,
            )
            log.info("rebuild of %s started (job %d, %s)", collection, job_id, holder)
            try:
                details = dict(self.work(context))
            except BaseException as exc:
                message = str(exc) if isinstance(exc, ClipsearchError) else f"{type(exc).__name__}: {exc}"
                self._finish(job_id, "failed", error=message, details={"timings": context.timings})
                log.error("rebuild of %s failed (job %d): %s", collection, job_id, message)
                raise
            seconds = round(time.perf_counter() - started, 4)
            details.setdefault("outcome", "rebuilt")
            details["timings"] = {**context.timings, "total": seconds}
            details["lease_holder"] = holder
            error = details.pop("error", None)
            if error:  # e.g. the recall gate kept a version out: the job failed, the old version serves
                self._finish(job_id, "failed", error=str(error), details=details)
                log.error("rebuild of %s failed (job %d): %s", collection, job_id, error)
                raise Conflict(f"rebuild of '{collection}' failed (job {job_id}): {error}")
            self._finish(job_id, "succeeded", details=details)
            log.info("rebuild of %s %s in %.2fs (job %d)", collection, details["outcome"], seconds, job_id)
            return RebuildResult(job_id, collection, str(details["outcome"]), seconds, details)
        finally:
            lease.__exit__(None, None, None)

    def _finish(
        self, job_id: int, state: str, *, error: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        with self.db.session() as session:
            record = jobs.get_job(session, job_id)
            if record.state == "queued":
                jobs.start_job(session, job_id)
            jobs.finish_job(session, job_id, state, error=error, details=details)

    @staticmethod
    def _fail_interrupted(session: Any, collection_id: int, current_job: int) -> None:
        for stale in jobs.list_jobs(
            session, collection_id=collection_id, states=("running",), kind=REBUILD_JOB_KIND, limit=1000
        ):
            if stale.id != current_job:
                jobs.finish_job(
                    session, stale.id, "failed", error="interrupted: its process stopped before finishing"
                )
