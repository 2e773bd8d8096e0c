"""The indexing pipeline end to end on real files, a real SQLite database and a tiny real model."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.config import Settings
from clipsearch.errors import Conflict
from clipsearch.indexer.layout import vector_store_dir
from clipsearch.indexer.pipeline import RunOptions
from clipsearch.indexer.runner import build_indices, index_collection, load_encoders
from clipsearch.storage import assets, catalog, jobs, vector_refs, versions
from clipsearch.storage.db import Database
from clipsearch.storage.index_files import load_version_dir
from clipsearch.storage.vectors import VectorStore

from .indexer_media import COLOURS, write_animated_gif, write_audio_only, write_image, write_video


def _db(settings: Settings) -> Database:
    db = Database(settings.database_url)
    db.upgrade()
    return db


def _mixed_corpus(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Good files (relpath → media type) and bad ones (relpath → expected reason)."""
    good: dict[str, str] = {}
    for i, fmt in enumerate(["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"]):
        write_image(root / f"images/pic{i}.{fmt.lower()}", COLOURS[i], fmt=fmt)
        good[f"images/pic{i}.{fmt.lower()}"] = "image"
    write_image(root / "images/actually_png.mp4", COLOURS[1], fmt="PNG")  # mislabelled, still an image
    good["images/actually_png.mp4"] = "image"
    write_video(root / "videos/clip.mp4", COLOURS[:3])
    write_video(root / "videos/clip.webm", COLOURS[3:], codec="libvpx-vp9")
    write_video(root / "videos/no_extension", COLOURS[:2], container_format="mp4")  # mislabelled video
    good.update({"videos/clip.mp4": "video", "videos/clip.webm": "video", "videos/no_extension": "video"})
    write_animated_gif(root / "videos/anim.gif", COLOURS[:3])  # animated: a clip, not a still image
    good["videos/anim.gif"] = "video"
    (root / "texts").mkdir()
    (root / "texts/story.txt").write_text(
        "A red circle rolls. " * 60 + "Then a blue square.", encoding="utf-8"
    )
    (root / "texts/note.jpg").write_text("a note saved with the wrong extension", encoding="utf-8")
    good.update({"texts/story.txt": "text", "texts/note.jpg": "text"})

    bad: dict[str, str] = {}
    png = (root / "images/pic0.png").read_bytes()
    jpeg = (root / "images/pic1.jpeg").read_bytes()
    (root / "bad").mkdir()
    (root / "bad/truncated.png").write_bytes(png[: len(png) // 2])
    (root / "bad/truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "bad/corrupt.jpg").write_bytes(b"\xff\xd8\xff" + bytes(300))
    (root / "bad/empty.png").write_bytes(b"")
    (root / "bad/random.jpg").write_bytes(bytes(range(256)) * 20)
    (root / "bad/huge.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(3_000_000))
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")
    (root / "bad/bomb.png").write_bytes(bomb.getvalue())
    clip = (root / "videos/clip.mp4").read_bytes()
    (root / "bad/truncated.mp4").write_bytes(clip[: len(clip) // 3])
    write_audio_only(root / "bad/sound.m4a")
    (root / "bad/latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    bad.update(
        {
            "bad/truncated.png": "truncated",
            "bad/truncated.jpg": "truncated",
            "bad/corrupt.jpg": "corrupt",
            "bad/empty.png": "empty",
            "bad/random.jpg": "unsupported",
            "bad/huge.bin": "too_large",
            "bad/bomb.png": "decompression_bomb",
            "bad/truncated.mp4": "truncated",
            "bad/sound.m4a": "no_video_stream",
            "bad/latin1.txt": "unsupported",
        }
    )
    return good, bad


def _state(db: Database) -> dict[str, tuple[str, str, str | None]]:
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        rows = assets.list_assets(session, cid, limit=100_000)
    return {
        str(a.metadata.get("relpath", a.uri)): (a.status, a.media_type, a.metadata.get("failure_reason"))
        for a in rows
    }


def _refs(db: Database) -> tuple[int, int, dict[int, int]]:
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        sid = catalog.get_space(session, "default").id
        items = vector_refs.vector_rows(session, cid, sid, "item", live_only=False)
        frames = vector_refs.vector_rows(session, cid, sid, "frame", live_only=False)
        owners = vector_refs.resolve_rows(session, sid, items.tolist())
    per_asset: dict[int, int] = {}
    for ref in owners.values():
        per_asset[ref.asset_id] = per_asset.get(ref.asset_id, 0) + 1
    return len(items), len(frames), per_asset


def test_mixed_corpus_indexes_every_good_file_and_records_every_bad_one(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    corpus = tmp_path / "corpus"
    good, bad = _mixed_corpus(corpus)
    settings = make_settings([{"path": str(corpus)}], max_file_bytes=2_000_000, max_image_pixels=50_000_000)
    db = _db(settings)
    encoders = load_encoders(settings, ["default"])
    summary = index_collection(settings, db, "c", RunOptions(), encoders=encoders)

    state = _state(db)
    assert {k: v[:2] for k, v in state.items() if k in good} == {k: ("indexed", t) for k, t in good.items()}
    assert {k: v[2] for k, v in state.items() if k in bad} == bad
    assert {k: v[0] for k, v in state.items() if k in bad} == {k: "failed" for k in bad}
    assert set(state) == set(good) | set(bad)
    assert summary.indexed == len(good) and sum(summary.failed.values()) == len(bad)
    items, frames, per_asset = _refs(db)
    assert items == len(good) and set(per_asset.values()) == {1}
    assert frames == 3 + 3 + 2 + 1  # fps:1 over 3 s, 3 s and 2 s videos and a 0.6 s animated GIF
    with db.session() as session:
        job = jobs.get_job(session, summary.job_id or 0)
    assert job.state == "succeeded" and job.details["indexed"] == len(good)

    # A video's item vector is the re-normalised mean of its frame vectors.
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        sid = catalog.get_space(session, "default").id
        video = assets.find_asset(session, cid, str((corpus / "videos/clip.mp4").resolve()))
        assert video is not None and video.duration_sec == pytest.approx(3.0, abs=0.1)
        refs = vector_refs.refs_for_assets(session, sid, [video.id])[video.id]
        frame_times = [f.t_sec for f in assets.list_frames(session, video.id)]
    assert frame_times == [0.0, 1.0, 2.0]
    with VectorStore.open(vector_store_dir(settings.data_dir, "default")) as store:
        item_vec = store.get([r.row_id for r in refs if r.unit == "item"])[0].astype(np.float32)
        frame_vecs = store.get([r.row_id for r in refs if r.unit == "frame"]).astype(np.float32)
    mean = frame_vecs.mean(axis=0)
    assert np.allclose(item_vec, mean / np.linalg.norm(mean), atol=2e-3)

    # The errors command lists every failure with its reason.
    config = tmp_path / "clipsearch.toml"
    from .indexer_config import write_config

    write_config(config, settings)
    result = CliRunner().invoke(app, ["--config", str(config), "index", "errors", "c", "--json"])
    assert result.exit_code == 0, result.output
    listed = {Path(row["uri"]).name: row["reason"] for row in json.loads(result.stdout)}
    assert listed == {Path(k).name: v for k, v in bad.items()}
    result = CliRunner().invoke(
        app, ["--config", str(config), "index", "errors", "c", "--reason", "truncated", "--json"]
    )
    assert len(json.loads(result.stdout)) == 3


def test_incremental_runs_skip_unchanged_reembed_changed_delete_vanished_and_retry(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    corpus = tmp_path / "corpus"
    for i in range(5):
        write_image(corpus / f"img{i}.png", COLOURS[i], fmt="PNG")
    (corpus / "doc.txt").write_text("hello shapes", encoding="utf-8")
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"text": "inline words", "id": "t1", "caption_de": "Worte", "k": 1}) + "\n",
        encoding="utf-8",
    )
    settings = make_settings([{"path": str(corpus)}, {"path": str(manifest)}])
    db = _db(settings)
    encoders = load_encoders(settings, ["default"])

    first = index_collection(settings, db, "c", encoders=encoders)
    assert (first.indexed, sum(first.failed.values())) == (7, 1)
    second = index_collection(settings, db, "c", encoders=encoders)
    assert (second.indexed, second.unchanged, second.previously_failed) == (0, 7, 1)

    # Touched but identical content: the hash confirms it is unchanged, nothing re-embedded.
    os.utime(corpus / "img0.png", ns=(1, 1))
    touched = index_collection(settings, db, "c", encoders=encoders)
    assert (touched.indexed, touched.unchanged) == (0, 7)

    # Changed content → re-embedded, old rows tombstoned; vanished → deleted; failures retried on request.
    with VectorStore.open(vector_store_dir(settings.data_dir, "default")) as store:
        live_before = len(store)
    write_image(corpus / "img1.png", (1, 2, 3), size=(70, 50), fmt="PNG")
    (corpus / "img2.png").unlink()
    third = index_collection(settings, db, "c", RunOptions(retry_failed=True), encoders=encoders)
    assert (third.indexed, third.deleted, third.failed["corrupt"]) == (1, 1, 1)
    state = _state(db)
    assert state["img2.png"][0] == "deleted" and state["img1.png"][0] == "indexed"
    items, _, per_asset = _refs(db)
    assert items == 6 and set(per_asset.values()) == {1}
    with VectorStore.open(vector_store_dir(settings.data_dir, "default")) as store:
        assert len(store) == live_before - 1  # +1 new img1, -1 old img1, -1 img2

    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        inline = assets.find_asset(session, cid, f"{manifest.resolve()}#t1")
    assert inline is not None and inline.text == "inline words"
    assert inline.metadata == {"k": 1, "captions": {"de": "Worte"}}


def test_build_activates_past_the_recall_gate_and_gates_a_weak_index(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    corpus.mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(corpus / f"n{i}.png")
    write_video(corpus / "v.mp4", COLOURS[:4])
    settings = make_settings([{"path": str(corpus)}])
    db = _db(settings)
    index_collection(settings, db, "c", encoders=load_encoders(settings, ["default"]))
    outcomes = {o.unit: o for o in build_indices(settings, db, "c")}
    assert outcomes["item"].status == "activated" and outcomes["item"].ntotal == 41
    assert outcomes["frame"].status == "activated" and outcomes["frame"].ntotal == 4
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        sid = catalog.get_space(session, "default").id
        active = versions.get_active_version(session, cid, sid, "item")
        rows = vector_refs.vector_rows(session, cid, sid, "item")
    assert active is not None and active.metrics["recall_at_10"] == 1.0
    # One on-disk format: the storage module's version dir, tied to the space's model fingerprint.
    with db.session() as session:
        space = catalog.get_space(session, "default")
    stored = load_version_dir(active.path, fingerprint=space.fingerprint, dim=space.dim)
    assert stored.manifest.ntotal == 41 and stored.manifest.factory == "Flat"
    assert stored.manifest.build_params["recall_at_10"] == 1.0
    with pytest.raises(Conflict, match="refusing to serve"):
        load_version_dir(active.path, fingerprint="another-model", dim=space.dim)
    index = faiss.deserialize_index(np.frombuffer(stored.index_bytes, dtype=np.uint8))
    with VectorStore.open(vector_store_dir(settings.data_dir, "default")) as store:
        probe = store.get(rows[:3]).astype(np.float32)
    _, labels = index.search(probe / np.linalg.norm(probe, axis=1, keepdims=True), 1)
    assert labels[:, 0].tolist() == rows[:3].tolist()  # labels are the store row ids

    # A 1-bit-per-dimension PQ cannot reach the floor: the version is recorded failed, v1 stays active.
    gated = build_indices(settings, db, "c", spec="IVF2,PQ4x2", units=("item",))[0]
    assert gated.status == "gated" and gated.recall_at_10 is not None and gated.recall_at_10 < 0.95
    with db.session() as session:
        still = versions.get_active_version(session, cid, sid, "item")
        failed = versions.find_version(session, cid, sid, "item", 2)
    assert still is not None and still.version == 1
    assert failed.status == "failed" and "recall gate" in (failed.error or "")
    assert failed.metrics["recall_at_10"] == pytest.approx(gated.recall_at_10, abs=1e-4)


class _DiskFullAfter:
    """A real vector store whose disk 'fills up' after `appends` successful appends."""

    def __init__(self, store: VectorStore, appends: int) -> None:
        self.store, self.left = store, appends

    def append(self, vectors: np.ndarray) -> np.ndarray:
        if self.left == 0:
            raise OSError(28, "No space left on device")
        self.left -= 1
        return self.store.append(vectors)

    def delete(self, row_ids: list[int]) -> None:
        self.store.delete(row_ids)


def test_a_writer_failure_stops_the_run_after_the_committed_batches_and_a_rerun_finishes(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    from clipsearch.indexer.pipeline import IndexPipeline

    corpus = tmp_path / "corpus"
    for i in range(12):
        write_image(corpus / f"img{i:02d}.png", COLOURS[i % 6], size=(40 + i, 30), fmt="PNG")
    settings = make_settings([{"path": str(corpus)}], batch_size=4)
    db = _db(settings)
    encoders = load_encoders(settings, ["default"])
    store = VectorStore.create(vector_store_dir(settings.data_dir, "default"), 32, "float16")
    writer = _DiskFullAfter(store, appends=1)
    pipeline = IndexPipeline(
        db, "c", settings.collection("c"), settings.indexer, encoders, {"default": writer}
    )
    with pytest.raises(OSError, match="No space left"):
        pipeline.run(RunOptions())
    store.close()
    state = _state(db)
    assert sorted(s for s, _, _ in state.values()) == ["indexed"] * 4  # only the first batch, whole
    with db.session() as session:
        cid = catalog.get_collection(session, "c").id
        job = jobs.list_jobs(session, collection_id=cid, kind="index", limit=1)[0]
    assert job.state == "failed" and "No space left" in (job.error or "")
    again = index_collection(settings, db, "c", encoders=encoders)
    assert (again.indexed, again.unchanged) == (8, 4)
    items, _, per_asset = _refs(db)
    assert items == 12 and set(per_asset.values()) == {1}
