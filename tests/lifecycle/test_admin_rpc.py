"""AdminService over a real port: status, triggered rebuilds, version list/activate/rollback, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from clipsearch.config import Settings
from clipsearch.lifecycle.database import open_database
from clipsearch.lifecycle.leases import HeldLease, make_holder, rebuild_lease_name
from clipsearch.lifecycle.scheduler import add_schedule
from clipsearch.proto.v1 import admin_pb2 as pb
from clipsearch.proto.v1 import admin_pb2_grpc as pb_grpc
from clipsearch.searcher.admin import ADMIN_METHOD_PREFIX
from clipsearch.storage.db import Database
from helpers.servers import ServerThread

from .conftest import lifecycle_settings, write_images


@pytest.fixture
def settings(tmp_path: Path, tiny_model: Path) -> Settings:
    write_images(tmp_path / "photos", 10)
    return lifecycle_settings(tmp_path, tiny_model)


@pytest.fixture
def admin(settings: Settings) -> Iterator[pb_grpc.AdminServiceStub]:
    open_database(settings).dispose()  # the schema, as `clipsearch db upgrade` would make it
    server = ServerThread(settings)
    channel = grpc.insecure_channel(server.target)
    try:
        yield pb_grpc.AdminServiceStub(channel)
    finally:
        channel.close()
        server.stop()


def _wait_job(admin: pb_grpc.AdminServiceStub, job_id: int, timeout: float = 60.0) -> pb.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = admin.GetStatus(pb.GetStatusRequest(collection="photos", job_limit=20), timeout=10)
        for job in status.collections[0].last_jobs:
            if job.id == job_id and job.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED):
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_admin_methods_share_one_prefix() -> None:
    methods = pb.DESCRIPTOR.services_by_name["AdminService"].methods
    assert {m.name for m in methods} == {
        "GetStatus",
        "TriggerRebuild",
        "ListVersions",
        "ActivateVersion",
        "Rollback",
    }
    assert ADMIN_METHOD_PREFIX == "/clipsearch.v1.AdminService/"


def test_trigger_list_activate_rollback_and_status(
    admin: pb_grpc.AdminServiceStub, settings: Settings
) -> None:
    first = admin.TriggerRebuild(pb.TriggerRebuildRequest(collection="photos"), timeout=10)
    job = _wait_job(admin, first.job_id)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error
    assert job.details["outcome"] == "rebuilt" and job.details["trigger"] == "rpc"

    second = admin.TriggerRebuild(pb.TriggerRebuildRequest(collection="photos", force=True), timeout=10)
    assert _wait_job(admin, second.job_id).state == pb.JOB_STATE_SUCCEEDED

    listed = admin.ListVersions(pb.ListVersionsRequest(collection="photos"), timeout=10).versions
    assert [(v.version, v.status) for v in listed] == [
        (2, pb.VERSION_STATUS_ACTIVE),
        (1, pb.VERSION_STATUS_RETIRED),
    ]
    assert listed[0].ntotal == 10 and listed[0].recall == pytest.approx(1.0) and listed[0].factory

    back = admin.Rollback(pb.RollbackRequest(collection="photos"), timeout=10)
    assert [(v.version, v.status) for v in back.activated] == [(1, pb.VERSION_STATUS_ACTIVE)]
    moved = admin.ActivateVersion(
        pb.ActivateVersionRequest(collection="photos", version_id=listed[0].id), timeout=10
    )
    assert (moved.activated.version, moved.previous.version) == (2, 1)

    add_schedule(Database(settings.database_url), "photos", "@every 1h")
    status = admin.GetStatus(pb.GetStatusRequest(), timeout=10)
    (photos,) = status.collections
    assert photos.name == "photos" and list(photos.spaces) == ["default"]
    assert {a.status: a.count for a in photos.assets}["indexed"] == 10
    assert [(v.space, v.unit, v.version) for v in photos.active_versions] == [("default", "item", 2)]
    assert {first.job_id, second.job_id} <= {j.id for j in photos.last_jobs}
    assert [s.cron for s in photos.schedules] == ["@every 3600s"]
    assert photos.lease_holder == ""


def test_triggered_rebuild_against_a_held_lease_ends_skipped(
    admin: pb_grpc.AdminServiceStub, settings: Settings
) -> None:
    db = Database(settings.database_url)
    with HeldLease(db, rebuild_lease_name("photos"), make_holder("cron"), 30.0):
        response = admin.TriggerRebuild(pb.TriggerRebuildRequest(collection="photos"), timeout=10)
        job = _wait_job(admin, response.job_id)
        status = admin.GetStatus(pb.GetStatusRequest(collection="photos"), timeout=10)
        assert status.collections[0].lease_holder.startswith("cron@")
    assert job.state == pb.JOB_STATE_FAILED and job.details["outcome"] == "skipped"
    assert "held by cron@" in job.error
    db.dispose()


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda a: a.TriggerRebuild(pb.TriggerRebuildRequest(collection="nope"), timeout=10),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda a: a.TriggerRebuild(pb.TriggerRebuildRequest(), timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda a: a.ListVersions(pb.ListVersionsRequest(collection="photos", unit="page"), timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda a: a.ActivateVersion(
                pb.ActivateVersionRequest(collection="photos", version_id=999), timeout=10
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda a: a.Rollback(pb.RollbackRequest(collection="photos"), timeout=10),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda a: a.GetStatus(pb.GetStatusRequest(collection="nope"), timeout=10),
            grpc.StatusCode.NOT_FOUND,
        ),
    ],
)
def test_bad_requests_map_to_status_codes(
    admin: pb_grpc.AdminServiceStub, call: object, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(admin)  # type: ignore[operator]
    assert caught.value.code() == code


def test_admin_methods_need_the_admin_token_once_auth_is_on(settings: Settings) -> None:
    from clipsearch.config import AuthSettings

    secured = settings.model_copy(
        update={"auth": AuthSettings(read_tokens=("reader",), admin_tokens=("boss",))}
    )
    open_database(secured).dispose()
    server = ServerThread(secured)
    channel = grpc.insecure_channel(server.target)
    try:
        stub = pb_grpc.AdminServiceStub(channel)
        request = pb.GetStatusRequest(collection="photos")
        for metadata, code in (
            ((), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", "Bearer reader"),), grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetStatus(request, metadata=metadata, timeout=10)
            assert caught.value.code() == code
        status = stub.GetStatus(request, metadata=(("authorization", "Bearer boss"),), timeout=10)
        assert status.collections[0].name == "photos"
    finally:
        channel.close()
        server.stop()
