"""SIGKILL the indexer at random points; the rerun converges to the uninterrupted result, no duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from indexer_config import write_config
from indexer_media import COLOURS, write_image, write_video

from clipsearch.config import Settings
from clipsearch.indexer.layout import vector_store_dir
from clipsearch.storage import assets, catalog, vector_refs
from clipsearch.storage.db import Database
from clipsearch.storage.vectors import VectorStore

REPO = Path(__file__).resolve().parents[2]


def _corpus(root: Path) -> None:
    for i in range(60):
        write_image(root / f"img{i:02d}.png", COLOURS[i % 6], size=(40 + i, 30 + i), fmt="PNG")
    for i in range(4):
        write_video(root / f"v{i}.mp4", COLOURS[i : i + 3])
    for i in range(6):
        (root / f"t{i}.txt").write_text(f"Document {i}. " + "Shapes move. " * (10 * i + 1), encoding="utf-8")
    (root / "bad.jpg").write_bytes(b"\xff\xd8\xff" + bytes(100))


def _indexed(settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            return assets.count_assets(session, catalog.get_collection(session, "c").id)["indexed"]
    except Exception:  # not created yet, or busy: no progress to report
        return 0
    finally:
        db.dispose()


def _run(config: Path, kill_at: int | None, settings: Settings | None = None) -> int | None:
    """Run the CLI; with `kill_at`, SIGKILL it once that many assets are indexed in total."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "clipsearch",
        "--config",
        str(config),
        "index",
        "run",
        "c",
        "--no-build",
        "--no-progress",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_at is None:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-2000:]
        return 0
    assert settings is not None
    while process.poll() is None and _indexed(settings) < kill_at:
        time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return process.returncode


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


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_converges(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    reference = make_settings([{"path": str(corpus)}], batch_size=4)
    crashed = reference.model_copy(update={"data_dir": tmp_path / "crashed"})
    ref_config = write_config(tmp_path / "reference.toml", reference)
    crash_config = write_config(tmp_path / "crashed.toml", crashed)

    _run(ref_config, None)

    rng = random.Random(int(os.environ.get("CLIPSEARCH_TEST_SEED", "7")))
    kills = 0
    targets = sorted(rng.sample(range(2, 66), 3))  # kill points, as counts of committed assets
    for target in targets:
        if _run(crash_config, target, crashed) == -signal.SIGKILL:
            kills += 1
    assert kills >= 2, "the indexer finished before it could be killed: make the corpus bigger"
    _run(crash_config, None)

    expected_state, expected_vectors, expected_refs = _final(reference)
    got_state, got_vectors, got_refs = _final(crashed)
    assert got_state == expected_state
    assert sum(1 for s, _ in got_state.values() if s == "indexed") == 70
    assert got_refs == expected_refs
    assert set(got_vectors) == set(expected_vectors)
    for name, vectors in expected_vectors.items():
        assert got_vectors[name] == pytest.approx(vectors, abs=2e-3), name
