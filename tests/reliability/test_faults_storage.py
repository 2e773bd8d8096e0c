"""Storage faults on a live collection (real SQLite, vector store, FAISS, gRPC server on port 0):
a torn vector-store tail, a full disk during a build, a locked SQLite database, an unreachable
PostgreSQL server. After each: the active index still serves, nothing committed is lost, a rerun
converges."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.errors import Unavailable
from clipsearch.indexer.layout import vector_store_dir
from clipsearch.indexer.runner import build_indices, index_collection
from clipsearch.lifecycle.rebuild import Rebuilder
from clipsearch.lifecycle.steps import rebuild_work
from clipsearch.proto.v1 import admin_pb2, admin_pb2_grpc
from clipsearch.storage import assets, catalog, jobs, vector_refs, versions
from clipsearch.storage.vectors import VectorStore
from helpers.servers import ServerThread

from .live import COLLECTION, LiveCollection, make_live_collection, probe, write_config, write_images
from .results import check_rows

COLUMNS = ["fault", "expected", "observed", "result"]


def _record(name: str, title: str, fault: str, expected: str, observed: str, ok: bool) -> None:
    row = {"fault": fault, "expected": expected, "observed": observed, "result": "pass" if ok else "FAIL"}
    check_rows(name, [row], title=title, columns=COLUMNS)


def _committed_vectors(live: LiveCollection) -> dict[int, np.ndarray]:
    """row id → vector for every row the SQL catalog refers to."""
    db = live.db()
    try:
        with db.session() as session:
            cid = catalog.get_collection(session, COLLECTION).id
            sid = catalog.get_space(session, "default").id
            rows = vector_refs.vector_rows(session, cid, sid, "item", live_only=True)
    finally:
        db.dispose()
    with VectorStore.open(vector_store_dir(live.settings.data_dir, "default")) as store:
        return {int(r): np.asarray(store.get([int(r)]))[0] for r in rows}


def _active_version(live: LiveCollection) -> int:
    db = live.db()
    try:
        with db.session() as session:
            cid = catalog.get_collection(session, COLLECTION).id
            sid = catalog.get_space(session, "default").id
            active = versions.get_active_version(session, cid, sid, "item")
            assert active is not None
            return int(active.version)
    finally:
        db.dispose()


# ------------------------------------------------------------------ torn vector-store tail


def test_torn_vector_store_tail_reopens_consistent_with_sql(tmp_path: Path, tiny_model: Path) -> None:
    live = make_live_collection(tmp_path, tiny_model, images=8)
    committed = _committed_vectors(live)
    store_dir = vector_store_dir(live.settings.data_dir, "default")
    # A crash while the next batch was being appended: its vectors reached the tail (never the SQL
    # commit, which comes after the fsync), and the process died in the middle of the last record.
    with VectorStore.open(store_dir, writable=True) as store:
        orphan_ids = store.append(np.random.default_rng(1).standard_normal((3, store.dim)).astype(np.float32))
        record_bytes = 8 + 4 * store.dim + 4
    tail = store_dir / "tail.log"
    size = tail.stat().st_size
    with open(tail, "r+b") as fh:
        fh.truncate(size - record_bytes // 2)

    # Readers (a server) open it as it is; the writer's open repairs it.
    with VectorStore.open(store_dir) as reader:
        assert all(np.array_equal(reader.get([r])[0], v) for r, v in committed.items())
    with VectorStore.open(store_dir, writable=True) as store:
        assert tail.stat().st_size % record_bytes == 0, "the torn record was not cut off"
        assert all(np.array_equal(store.get([r])[0], v) for r, v in committed.items())
        fresh = store.append(np.ones((1, store.dim), dtype=np.float32))
    # Only the torn record's id (never durably written, so never recorded in SQL) may be handed out again.
    assert int(fresh[0]) > int(orphan_ids[-2]) and int(fresh[0]) not in committed, (fresh, orphan_ids)

    server = ServerThread(live.settings)
    try:
        before = probe(server.target, next(iter(committed.values())))
        # The rerun indexes new files on top of the repaired store and rebuilds from exactly the SQL rows.
        write_images(live.photos, 4, start=100)
        db = live.db()
        try:
            summary = index_collection(live.settings, db, COLLECTION)
            outcomes = build_indices(live.settings, db, COLLECTION, units=("item",))
        finally:
            db.dispose()
        after = _committed_vectors(live)
    finally:
        server.stop()
    ok = (
        before.code == "OK"
        and summary.indexed == 4
        and outcomes[0].status == "activated"
        and outcomes[0].ntotal == 12
        and set(committed) <= set(after)
        and all(np.array_equal(after[r], v) for r, v in committed.items())
    )
    assert before.code == "OK" and before.hits > 0, before
    assert summary.indexed == 4 and outcomes[0].status == "activated" and outcomes[0].ntotal == 12
    assert all(np.array_equal(after[r], v) for r, v in committed.items()), "a committed vector changed"
    _record(
        "fault_torn_tail",
        "Fault injection: torn vector-store tail",
        "tail.log cut in the middle of its last record (3 uncommitted vectors appended, crash mid-write)",
        "reopen drops the torn record; every SQL-referenced vector intact; no surviving id reused; "
        "rerun converges",
        "torn record dropped; 8 committed vectors identical; no surviving id reused; "
        "rerun indexed 4 new, built 12",
        ok,
    )


# ------------------------------------------------------------------ full disk during a build


def _try_tmpfs(path: Path, size: str) -> bool:
    """Mount a small tmpfs at `path` (root in a container that allows it); False where not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture
def index_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Where index versions are written: a real 512 KiB tmpfs when mounting is permitted, else the
    normal disk with the index write patched to fail with ENOSPC half-way (`fill()` / `free()`)."""
    mount = tmp_path / "live" / "data" / "indexes"
    state: dict[str, Any] = {"tmpfs": _try_tmpfs(mount, "512k")}
    filler = mount / "filler.bin"

    def fill() -> None:
        if state["tmpfs"]:
            with open(filler, "wb", buffering=0) as fh:  # write until the file system is full
                try:
                    while True:
                        fh.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
            return
        from clipsearch.storage import index_files

        real = index_files.write_synced

        def half_then_enospc(path: Path, data: bytes) -> None:
            real(path, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        monkeypatch.setattr(index_files, "write_synced", half_then_enospc)

    def free() -> None:
        if state["tmpfs"]:
            filler.unlink()
        else:
            monkeypatch.undo()

    state.update(fill=fill, free=free, mount=mount)
    try:
        yield state
    finally:
        if state["tmpfs"]:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def test_full_disk_during_a_build_fails_cleanly_and_the_rerun_succeeds(
    tmp_path: Path, tiny_model: Path, index_disk: dict[str, Any]
) -> None:
    live = make_live_collection(tmp_path / "live", tiny_model, images=8)
    server = ServerThread(live.settings)
    query = next(iter(_committed_vectors(live).values()))
    db = live.db()
    try:
        assert probe(server.target, query) == probe(server.target, query)
        before = probe(server.target, query)
        write_images(live.photos, 4, start=200)
        index_disk["fill"]()
        rebuilder = Rebuilder(db, rebuild_work(live.settings), lease_seconds=30)
        with pytest.raises(OSError) as failure:
            rebuilder.run(COLLECTION)
        assert failure.value.errno == errno.ENOSPC
        item_dir = live.settings.data_dir / "indexes" / COLLECTION / "default" / "item"
        leftovers = sorted(p.name for p in item_dir.iterdir())
        with db.session() as session:
            cid = catalog.get_collection(session, COLLECTION).id
            job = jobs.list_jobs(session, collection_id=cid, kind="rebuild", limit=1)[0]
            listed = versions.list_versions(session, cid)
        failed = [v for v in listed if v.status == "failed"]
        during = probe(server.target, query)
        index_disk["free"]()
        result = rebuilder.run(COLLECTION)
        time.sleep(0.6)  # a few index polls: the server swaps in the new version
        after = probe(server.target, query)
    finally:
        db.dispose()
        server.stop()
    assert before.code == "OK" and before.version == "1", before
    assert job.state == "failed" and "No space left on device" in (job.error or ""), job
    assert len(failed) == 1 and "No space left on device" in (failed[0].error or ""), failed
    assert leftovers == ["v1"], f"a half-written version is on disk: {leftovers}"
    assert _active_version(live) != int(failed[0].version)
    assert during == before, "the active index stopped serving while the disk was full"
    assert result.outcome == "rebuilt"
    assert after.code == "OK" and after.version == str(_active_version(live)) and after.version != "1"
    _record(
        "fault_full_disk",
        "Fault injection: full disk during a build",
        # Which way the disk fills depends on whether the test may mount (the row must not).
        "index write fails with ENOSPC (a filled 512 KiB tmpfs where mounting is permitted, "
        "else the write patched to stop half-way with ENOSPC)",
        "build fails with a clear error; version marked failed, no partial directory, old version serves; "
        "rerun succeeds",
        "job failed: 'No space left on device'; version failed; only v1 on disk; v1 served; "
        "rerun rebuilt and the new version is served",
        True,
    )


# ------------------------------------------------------------------ database locked / unreachable


def test_locked_sqlite_gives_unavailable_not_corruption(tmp_path: Path, tiny_model: Path) -> None:
    live = make_live_collection(tmp_path, tiny_model, images=6, **{"database.busy_timeout_ms": 300})
    server = ServerThread(live.settings)
    query = next(iter(_committed_vectors(live).values()))
    db_path = Path(live.settings.database_url.removeprefix("sqlite:///"))
    with live.db().session() as session:
        cid = catalog.get_collection(session, COLLECTION).id
        version_id = versions.list_versions(session, cid)[0].id
    locker = sqlite3.connect(db_path, timeout=0.1, isolation_level=None)
    admin_request = admin_pb2.ActivateVersionRequest(collection=COLLECTION, version_id=version_id)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the busy timeout
        locker.execute("UPDATE collections SET name = name")
        search_while_locked = probe(server.target, query)
        with grpc.insecure_channel(server.target) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ActivateVersion(admin_request, timeout=10)
            db = live.db()
            try:
                with pytest.raises(Unavailable, match="database error"):
                    index_collection(live.settings, db, COLLECTION)
            finally:
                db.dispose()
            locker.execute("ROLLBACK")
            retried = stub.ActivateVersion(admin_request, timeout=10)
        search_after = probe(server.target, query)
        integrity = sqlite3.connect(db_path).execute("PRAGMA integrity_check").fetchone()[0]
        with live.db().session() as session:
            counts = assets.count_assets(session, cid)
    finally:
        locker.close()
        server.stop()
    # Searches read through `Database.read_session()`: a WAL snapshot that never waits for the writer.
    assert search_while_locked.code == "OK", search_while_locked
    assert search_after.code == "OK" and search_after.version == "1", search_after
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    assert "database" in (refused.value.details() or "")
    assert retried.activated.id == version_id
    assert integrity == "ok" and counts["indexed"] == 6
    _record(
        "fault_sqlite_locked",
        "Fault injection: SQLite locked by another writer",
        "another connection holds an EXCLUSIVE write transaction past the 300 ms busy timeout",
        "searches keep answering OK (WAL snapshot reads); writes answer UNAVAILABLE / Unavailable; "
        "after release the retries succeed and v1 still serves; no corruption",
        f"search {search_while_locked.code}; ActivateVersion UNAVAILABLE; index run Unavailable; "
        "after release: search OK (v1), ActivateVersion OK; integrity_check ok",
        True,
    )


def test_unreachable_postgresql_is_a_clear_error_at_startup(tmp_path: Path, tiny_model: Path) -> None:
    live = make_live_collection(tmp_path, tiny_model, images=2)
    settings = live.settings.model_copy(
        update={
            "database": live.settings.database.model_copy(
                update={"url": "postgresql+psycopg://clipsearch@127.0.0.1:9/clipsearch"}
            )
        }
    )
    config = write_config(tmp_path / "pg.toml", settings)
    runner = CliRunner()
    outcomes = {}
    for command in (["serve", "--port", "0"], ["index", "status", COLLECTION], ["rebuild", COLLECTION]):
        result = runner.invoke(app, ["--config", str(config), *command])
        outcomes[command[0]] = result
    for name, result in outcomes.items():
        assert result.exit_code == 69, (name, result.exit_code, result.output)
        assert "database error on postgresql" in result.output and "Traceback" not in result.output, name
        assert "Connection refused" in result.output or "connection failed" in result.output, name
    _record(
        "fault_postgres_unreachable",
        "Fault injection: PostgreSQL unreachable",
        "database.url points at a closed port (127.0.0.1:9)",
        "serve, index status and rebuild exit 69 (EX_UNAVAILABLE) with a one-line error naming the server",
        "serve 69, index status 69, rebuild 69: 'database error on postgresql+psycopg://…: connection failed'",
        True,
    )
