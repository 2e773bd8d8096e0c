"""SIGKILL the indexer at random points; the rerun converges to the uninterrupted result, no duplicates.

The reference is an uninterrupted in-process run. The crashed copy runs the real CLI as a
subprocess and is killed with SIGKILL a random moment after a random number of assets became
`indexed` (so kills land anywhere in the decode → encode → store append → SQL commit cycle); the
kill points are kept early enough that there is always work left to interrupt. The final rerun must
leave exactly the reference's assets, statuses, hashes, refs and vectors, and must not re-embed what
committed batches had already indexed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipsearch.config import Settings
from clipsearch.indexer.layout import vector_store_dir
from clipsearch.indexer.runner import index_collection
from clipsearch.storage import assets, catalog, vector_refs
from clipsearch.storage.db import Database
from clipsearch.storage.vectors import VectorStore

from .indexer_config import write_config
from .indexer_media import COLOURS, write_image, write_video

REPO = Path(__file__).resolve().parents[2]


def _corpus(root: Path, images: int, videos: int, texts: int) -> int:
    """Writes the corpus; returns how many of its files are good."""
    for i in range(images):
        write_image(root / f"img{i:03d}.png", COLOURS[i % 6], size=(40 + i, 30 + i), fmt="PNG")
    for i in range(videos):
        write_video(root / f"v{i}.mp4", [COLOURS[(i + k) % 6] for k in range(3)])
    for i in range(texts):
        (root / f"t{i}.txt").write_text(f"Document {i}. " + "Shapes move. " * (10 * i + 1), encoding="utf-8")
    (root / "bad.jpg").write_bytes(b"\xff\xd8\xff" + bytes(100))
    return images + videos + texts


class _Progress:
    """Counts indexed assets of the crashed copy through one open connection (cheap to poll)."""

    def __init__(self, settings: Settings) -> None:
        self.db = Database(settings.database_url)

    def indexed(self) -> int:
        try:
            with self.db.read_session() as session:
                return assets.count_assets(session, catalog.get_collection(session, "c").id)["indexed"]
        except Exception:  # not created yet, or busy: no progress to report
            return 0

    def close(self) -> None:
        self.db.dispose()


def _cli(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "clipsearch", "--config", str(config), "index", "run", "c"]
    command += ["--no-build", "--no-progress", "--json"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_after(config: Path, progress: _Progress, at_least: int, delay: float) -> bool:
    """Run the CLI and SIGKILL it `delay` s after `at_least` assets are indexed; True if it was killed."""
    process = _cli(config)
    while process.poll() is None and progress.indexed() < at_least:
        time.sleep(0.02)
    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    return killed and process.returncode == -signal.SIGKILL


def _finish(config: Path) -> dict[str, Any]:
    process = _cli(config)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()[-3000:]
    summary: dict[str, Any] = json.loads(out)
    return summary


def _final(settings: Settings) -> tuple[dict[str, tuple[str, str | None]], dict[str, np.ndarray], int]:
    db = Database(settings.database_url)
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        sid = catalog.get_space(session, "default").id
        rows = assets.list_assets(session, cid, limit=100_000)
        refs = vector_refs.refs_for_assets(session, sid, [a.id for a in rows])
        frames = {a.id: len(assets.list_frames(session, a.id)) for a in rows}
    db.dispose()
    state = {Path(a.uri).name: (a.status, a.content_hash) for a in rows}
    vectors: dict[str, np.ndarray] = {}
    total_refs = 0
    with VectorStore.open(vector_store_dir(settings.data_dir, "default")) as store:
        for a in rows:
            mine = refs[a.id]
            total_refs += len(mine)
            items = [r for r in mine if r.unit == "item"]
            frame_refs = [r for r in mine if r.unit == "frame"]
            assert len(items) == (1 if a.status == "indexed" else 0), a.uri  # no duplicates
            assert len(frame_refs) == (frames[a.id] if a.status == "indexed" else 0)
            if items:
                vectors[Path(a.uri).name] = store.get([r.row_id for r in mine]).astype(np.float32)
    return state, vectors, total_refs


def _crash_and_converge(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    *,
    corpus: tuple[int, int, int],
    kills: int,
    seed: int,
) -> None:
    root = tmp_path / "corpus"
    good = _corpus(root, *corpus)
    reference = make_settings([{"path": str(root)}], batch_size=2)
    crashed = reference.model_copy(update={"data_dir": tmp_path / "crashed"})
    config = write_config(tmp_path / "crashed.toml", crashed)
    db = Database(reference.database_url)
    db.upgrade()
    index_collection(reference, db, "c")
    db.dispose()

    rng = random.Random(int(os.environ.get("CLIPSEARCH_TEST_SEED", str(seed))))
    # Kill points as counts of committed assets, increasing, all in the first 60 % of the corpus.
    targets = sorted(rng.sample(range(1, int(good * 0.6)), kills))
    progress = _Progress(crashed)
    killed = 0
    try:
        for target in targets:
            killed += _kill_after(config, progress, target, delay=rng.uniform(0.0, 0.4))
        before_rerun = progress.indexed()
    finally:
        progress.close()
    assert killed >= 1, "every run finished before it could be killed"
    summary = _finish(config)

    expected_state, expected_vectors, expected_refs = _final(reference)
    got_state, got_vectors, got_refs = _final(crashed)
    assert got_state == expected_state
    assert sum(1 for s, _ in got_state.values() if s == "indexed") == good
    assert got_refs == expected_refs
    assert set(got_vectors) == set(expected_vectors)
    for name, vectors in expected_vectors.items():
        assert got_vectors[name] == pytest.approx(vectors, abs=2e-3), name
    # Committed batches were not embedded again: the rerun only did what was left.
    assert summary["unchanged"] == before_rerun and summary["indexed"] == good - before_rerun


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_converges(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    _crash_and_converge(tmp_path, make_settings, corpus=(24, 2, 3), kills=2, seed=7)


@pytest.mark.soak
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_soak_many_kills_on_a_bigger_corpus(
    tmp_path: Path, make_settings: Callable[..., Settings], seed: int
) -> None:
    _crash_and_converge(tmp_path, make_settings, corpus=(120, 6, 10), kills=6, seed=seed)
