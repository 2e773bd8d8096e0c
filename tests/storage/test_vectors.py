"""Vector store: round trips, deletes, compaction with stable ids, torn tails, crash consistency."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from clipsearch.errors import Conflict, InvalidRequest, NotFound
from clipsearch.storage.db import Database
from clipsearch.storage.models import Asset, VectorRef
from clipsearch.storage.vectors import VectorStore

from .crash_writer import DIM, vector_for


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_append_get_reopen(tmp_path: Path, dtype: str) -> None:
    x = _vectors(50)
    with VectorStore.create(tmp_path / "s", 8, dtype, chunk_rows=16) as store:  # type: ignore[arg-type]
        ids = np.concatenate([store.append(x[i : i + 7]) for i in range(0, 50, 7)])
        assert ids.tolist() == list(range(1, 51))
        expected = x.astype(dtype).astype(np.float32)
        order = np.array([49, 0, 17, 16, 33, 48])
        assert np.array_equal(store.get(ids[order]), expected[order])
    reader = VectorStore.open(tmp_path / "s")
    assert len(reader) == 50 and reader.next_id == 51
    all_ids, all_vecs = reader.all_vectors()
    assert np.array_equal(all_ids, ids) and np.array_equal(all_vecs, expected)
    with pytest.raises(Conflict):
        reader.append(x[:1])


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with VectorStore.create(tmp_path / "s", 8) as store:
        with pytest.raises(InvalidRequest):
            store.append(np.zeros((2, 7), np.float32))
        with pytest.raises(InvalidRequest):
            store.append(np.full((1, 8), np.nan, np.float32))
        with pytest.raises(Conflict):
            VectorStore.open(tmp_path / "s", writable=True)  # one writer at a time
    with pytest.raises(Conflict):
        VectorStore.create(tmp_path / "s", 16)
    with pytest.raises(NotFound):
        VectorStore.open(tmp_path / "nothing")


def test_delete_and_compact_keep_ids_stable(tmp_path: Path) -> None:
    x = _vectors(40)
    store = VectorStore.create(tmp_path / "s", 8, "float32", chunk_rows=10)
    ids = np.concatenate([store.append(x[:25]), store.append(x[25:])])
    assert store.delete([3, 4, 30, 999]) == 3
    assert store.delete([3]) == 0
    assert store.contains([2, 3, 30, 31]).tolist() == [True, False, False, True]
    with pytest.raises(NotFound):
        store.get([3])
    assert np.isnan(store.get([3, 5], allow_missing=True)[0]).all()
    # Compaction also drops rows no SQL row points at (here: keep everything but 10).
    removed = store.compact(live_ids=[i for i in ids.tolist() if i != 10])
    assert removed == 4 and len(store) == 36
    survivors = [i for i in ids.tolist() if i not in (3, 4, 10, 30)]
    assert np.array_equal(store.get(survivors), x[np.array(survivors) - 1])
    new = store.append(x[:1])
    assert new.tolist() == [41]  # ids are never reused
    store.close()
    reopened = VectorStore.open(tmp_path / "s")
    assert reopened.all_vectors()[0].tolist() == [*survivors, 41]


def test_reader_sees_new_rows_after_refresh(tmp_path: Path) -> None:
    writer = VectorStore.create(tmp_path / "s", 8, chunk_rows=4)
    writer.append(_vectors(3))
    reader = VectorStore.open(tmp_path / "s")
    writer.append(_vectors(6, seed=1))
    writer.delete([1])
    assert len(reader) == 3
    reader.refresh()
    assert len(reader) == 8 and not reader.contains([1])[0]
    writer.compact()
    reader.refresh()
    assert len(reader) == 8


def test_torn_tail_is_truncated_on_open(tmp_path: Path) -> None:
    x = _vectors(5)
    with VectorStore.create(tmp_path / "s", 8, "float32") as store:
        store.append(x)
    tail = tmp_path / "s" / "tail.log"
    record = tail.stat().st_size // 5
    with open(tail, "ab") as fh:  # half a record, as a crash mid-write leaves it
        fh.write(b"\x07" * (record // 2))
    with VectorStore.open(tmp_path / "s", writable=True) as store:
        assert len(store) == 5 and tail.stat().st_size == 5 * record
        assert store.append(x[:1]).tolist() == [6]
    # A full-length record with garbage (size extended, data never written) fails its CRC.
    with open(tail, "r+b") as fh:
        fh.seek(5 * record + 8)
        fh.write(b"\x00" * 8)
    with VectorStore.open(tmp_path / "s", writable=True) as store:
        assert store.all_vectors()[0].tolist() == [1, 2, 3, 4, 5]
        assert store.append(x[:1]).tolist() == [6]


def test_crash_between_seal_steps_recovers(tmp_path: Path) -> None:
    x = _vectors(6)
    store = VectorStore.create(tmp_path / "s", 8, "float32", chunk_rows=100)
    store.append(x)
    tail_bytes = (tmp_path / "s" / "tail.log").read_bytes()
    store.seal()
    store.close()
    # Crash after chunks.json was committed but before the tail was reset: the tail still holds rows.
    (tmp_path / "s" / "tail.log").write_bytes(tail_bytes)
    # And an unfinished chunk from a later seal that never committed.
    (tmp_path / "s" / "c00000009.vec").write_bytes(b"junk")
    with VectorStore.open(tmp_path / "s", writable=True) as store:
        ids, vecs = store.all_vectors()
        assert ids.tolist() == [1, 2, 3, 4, 5, 6] and np.array_equal(vecs, x)
        assert not (tmp_path / "s" / "c00000009.vec").exists()
        assert store.append(x[:1]).tolist() == [7]


@pytest.mark.parametrize(
    "runs", [pytest.param(6, id="6kills"), pytest.param(40, id="40kills", marks=pytest.mark.soak)]
)
def test_sigkilled_writer_loses_nothing_committed(db: Database, tmp_path: Path, runs: int) -> None:
    """A writer is SIGKILLed at random moments, again and again; SQL never points at a missing vector."""
    store_dir = tmp_path / "store"
    writer = Path(__file__).with_name("crash_writer.py")
    url = db.url.render_as_string(hide_password=False)
    rng = random.Random(1234)
    start = 0
    kills = 0
    for _ in range(runs):
        proc = subprocess.Popen(
            [sys.executable, str(writer), url, str(store_dir), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.stdout is not None
        # Wait until it is writing, then kill it at a random point of its loop.
        first = proc.stdout.readline()
        assert first, proc.stderr.read().decode() if proc.stderr else "writer died"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        start += 10_000  # fresh asset keys for the next run
    assert kills == runs
    with VectorStore.open(store_dir, writable=True) as store, db.session() as s:
        rows = s.execute(
            select(VectorRef.row_id, Asset.uri).join(Asset, Asset.id == VectorRef.asset_id)
        ).all()
        assert len(rows) > 5 * runs
        row_ids = [r for r, _ in rows]
        assert store.contains(row_ids).all()
        expected = np.stack([vector_for(int(uri.split("-")[1])) for _, uri in rows]).astype(np.float16)
        assert np.array_equal(store.get(row_ids), expected.astype(np.float32))
        # Store rows nobody points at are the uncommitted tail of a killed run (or deleted rows);
        # compaction against the SQL truth removes them and keeps every referenced row.
        store.compact(live_ids=row_ids)
        assert len(store) == len(row_ids)
        assert np.array_equal(store.get(row_ids), expected.astype(np.float32))
    assert expected.shape[1] == DIM
