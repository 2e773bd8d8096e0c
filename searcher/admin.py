"""`AdminService` (clipsearch.v1): status, rebuilds and version moves over gRPC.

Every method lives under `/clipsearch.v1.AdminService/`, so the auth interceptor can demand the
admin credential for the whole prefix. The servicer is a thin wire layer over `clipsearch.lifecycle`
(the same functions the CLI calls); SQL runs in the server's thread pool, and rebuilds run one at a
time in their own background thread so they never take the search workers. A triggered rebuild
takes the collection lease like any other, so it never overlaps a cron or scheduler rebuild; when
the lease is held, the returned job ends `failed` with outcome `skipped`. Activations and rollbacks
reach every server (this one included) at its next index poll, without failing a query.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf import json_format, struct_pb2

from clipsearch.config import Settings
from clipsearch.errors import ClipsearchError, InvalidRequest
from clipsearch.lifecycle import status as lifecycle_status
from clipsearch.lifecycle import versions as lifecycle_versions
from clipsearch.lifecycle.rebuild import Rebuilder, RebuildOptions, RebuildWork
from clipsearch.lifecycle.scheduler import ScheduleView
from clipsearch.lifecycle.status import CollectionStatus, JobView
from clipsearch.lifecycle.versions import VersionView
from clipsearch.proto.v1 import admin_pb2 as pb
from clipsearch.proto.v1 import admin_pb2_grpc as pb_grpc
from clipsearch.searcher.status import status_for
from clipsearch.storage import jobs
from clipsearch.storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
ADMIN_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AdminService"].full_name
#: every admin method starts with this; auth interceptors match on it.
ADMIN_METHOD_PREFIX = f"/{ADMIN_SERVICE_NAME}/"

_VERSION_STATUS = {
    "building": pb.VERSION_STATUS_BUILDING,
    "ready": pb.VERSION_STATUS_READY,
    "active": pb.VERSION_STATUS_ACTIVE,
    "retired": pb.VERSION_STATUS_RETIRED,
    "failed": pb.VERSION_STATUS_FAILED,
}
_JOB_STATE = {
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "succeeded": pb.JOB_STATE_SUCCEEDED,
    "failed": pb.JOB_STATE_FAILED,
}


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    # Round-trip through JSON so datetimes, numpy scalars and the like become plain values.
    json_format.ParseDict(json.loads(json.dumps(values, default=str)), message)
    return message


def version_message(v: VersionView) -> pb.IndexVersion:
    return pb.IndexVersion(
        id=v.id,
        collection=v.collection,
        space=v.space,
        unit=v.unit,
        version=v.version,
        status=_VERSION_STATUS.get(v.status, pb.VERSION_STATUS_UNSPECIFIED),
        factory=v.factory,
        ntotal=v.ntotal,
        recall=v.recall or 0.0,
        metrics=_struct(v.metrics),
        created_at=_time(v.created_at),
        activated_at=_time(v.activated_at),
        retired_at=_time(v.retired_at),
        error=v.error or "",
    )


def job_message(j: JobView) -> pb.Job:
    return pb.Job(
        id=j.id,
        kind=j.kind,
        collection=j.collection,
        state=_JOB_STATE.get(j.state, pb.JOB_STATE_UNSPECIFIED),
        progress=j.progress,
        error=j.error or "",
        details=_struct(j.details),
        created_at=_time(j.created_at),
        started_at=_time(j.started_at),
        ended_at=_time(j.ended_at),
    )


def _schedule_message(s: ScheduleView) -> pb.ScheduleInfo:
    return pb.ScheduleInfo(
        id=s.id,
        collection=s.collection,
        kind=s.kind,
        cron=s.cron,
        enabled=s.enabled,
        last_fired_at=_time(s.last_fired_at),
        next_fire_at=_time(s.next_fire_at),
    )


def _collection_message(c: CollectionStatus) -> pb.CollectionStatus:
    return pb.CollectionStatus(
        name=c.name,
        spaces=list(c.spaces),
        assets=[pb.AssetCount(status=s, count=n) for s, n in sorted(c.assets.items())],
        active_versions=[version_message(v) for v in c.active_versions],
        last_jobs=[job_message(j) for j in c.last_jobs],
        schedules=[_schedule_message(s) for s in c.schedules],
        lease_holder=c.lease_holder,
    )


def _required(value: str, name: str) -> str:
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(
        self, settings: Settings, db: Database, executor: Executor, work: RebuildWork | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self._executor = executor
        if work is None:
            from clipsearch.lifecycle.steps import rebuild_work

            work = rebuild_work(settings)
        self.rebuilder = Rebuilder(
            db, work, lease_seconds=settings.scheduler.lease_seconds, holder_role="server"
        )
        # One rebuild at a time from this server; the lease serialises against everyone else.
        self._rebuilds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild")
        self._queued: dict[Future[None], int] = {}

    async def _call(self, method: str, context: grpc.aio.ServicerContext, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except Exception as exc:
            code, message = status_for(exc, "admin")
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s failed", method)
            else:
                log.info("%s → %s: %s", method, code.name, message)
            await context.abort(code, message)
            raise  # unreachable: abort raises

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatusResponse:
        def work() -> pb.GetStatusResponse:
            rows = lifecycle_status.collection_statuses(
                self._db,
                self._settings,
                collection=request.collection or None,
                job_limit=request.job_limit or 5,
            )
            return pb.GetStatusResponse(collections=[_collection_message(r) for r in rows])

        return await self._call("GetStatus", context, work)

    async def TriggerRebuild(
        self, request: pb.TriggerRebuildRequest, context: grpc.aio.ServicerContext
    ) -> pb.TriggerRebuildResponse:
        def work() -> pb.TriggerRebuildResponse:
            collection = _required(request.collection, "collection")
            self._settings.collection(collection)  # NotFound for a collection this server does not know
            job_id = self.rebuilder.create_job(collection, trigger="rpc")
            options = RebuildOptions(force_build=request.force)
            future = self._rebuilds.submit(self._rebuild, collection, job_id, options)
            self._queued[future] = job_id
            future.add_done_callback(lambda done: self._queued.pop(done, None))
            return pb.TriggerRebuildResponse(job_id=job_id)

        return await self._call("TriggerRebuild", context, work)

    def _rebuild(self, collection: str, job_id: int, options: RebuildOptions) -> None:
        try:
            self.rebuilder.run(collection, options=options, job_id=job_id, trigger="rpc")
        except ClipsearchError as exc:  # recorded on the job already
            log.warning("triggered rebuild of %s (job %d): %s", collection, job_id, exc)
        except Exception:
            log.exception("triggered rebuild of %s (job %d) crashed", collection, job_id)

    async def ListVersions(
        self, request: pb.ListVersionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVersionsResponse:
        def work() -> pb.ListVersionsResponse:
            rows = lifecycle_versions.list_version_views(
                self._db,
                _required(request.collection, "collection"),
                space=request.space or None,
                unit=request.unit or None,
            )
            return pb.ListVersionsResponse(versions=[version_message(v) for v in rows])

        return await self._call("ListVersions", context, work)

    async def ActivateVersion(
        self, request: pb.ActivateVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ActivateVersionResponse:
        def work() -> pb.ActivateVersionResponse:
            if request.version_id <= 0:
                raise InvalidRequest("version_id is required (IndexVersion.id from ListVersions)")
            moved = lifecycle_versions.activate(
                self._db, _required(request.collection, "collection"), request.version_id
            )
            response = pb.ActivateVersionResponse(activated=version_message(moved.activated))
            if moved.previous is not None:
                response.previous.CopyFrom(version_message(moved.previous))
            return response

        return await self._call("ActivateVersion", context, work)

    async def Rollback(
        self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RollbackResponse:
        def work() -> pb.RollbackResponse:
            rows = lifecycle_versions.rollback(
                self._db,
                _required(request.collection, "collection"),
                space=request.space or None,
                unit=request.unit or None,
            )
            return pb.RollbackResponse(activated=[version_message(v) for v in rows])

        return await self._call("Rollback", context, work)

    def shutdown(self) -> None:
        """Let a running rebuild finish (it holds the lease); rebuilds not started yet fail their jobs."""
        not_started = [job for future, job in list(self._queued.items()) if future.cancel()]
        self._rebuilds.shutdown(wait=True, cancel_futures=True)
        for job_id in not_started:
            with self._db.session() as session:
                jobs.start_job(session, job_id)
                jobs.finish_job(
                    session, job_id, "failed", error="the server stopped before the rebuild started"
                )


def add_admin_service(server: grpc.aio.Server, settings: Settings, executor: Executor) -> AdminServicer:
    """Register AdminService on `server` with its own database handle; returns the servicer."""
    db = Database(settings.database_url, busy_timeout_ms=settings.database.busy_timeout_ms)
    servicer = AdminServicer(settings, db, executor)
    pb_grpc.add_AdminServiceServicer_to_server(servicer, server)
    return servicer
