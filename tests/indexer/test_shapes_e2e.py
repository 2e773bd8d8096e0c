"""Shapes world end to end: a generated corpus (images, videos, texts, four languages) indexed from its
manifest into the three shapes spaces, built, and queried through the active index versions.

Retrieval goes through exactly what a server loads: `load_version_dir` (checksums + fingerprint),
the tuned index, and the SQL rows that map its labels back to assets and frames. Floors are set well
above chance and below what the trained models reach, so the test checks the plumbing (every vector
lands on the right asset, frame or `t_sec`), not the training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from clipsearch.config import SHAPES_MODELS_DIR, Settings, load_settings

SPACES = ("default", "long", "multilingual")
MODELS = {"default": "shapes-base", "long": "shapes-long", "multilingual": "shapes-multilingual"}
FPS = 2

pytestmark = [
    pytest.mark.xdist_group("indexer-shapes"),
    pytest.mark.skipif(
        not all((SHAPES_MODELS_DIR / m / "open_clip_config.json").exists() for m in MODELS.values()),
        reason="the shapes-world models are not in models/ yet (tools/train_shapes.py)",
    ),
]


@dataclass(frozen=True, slots=True)
class Indexed:
    settings: Settings
    manifest: Any  # clipsearch.shapesworld.CorpusManifest
    uri_of: dict[str, str]  # manifest id -> asset uri
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    from clipsearch.indexer.pipeline import RunOptions
    from clipsearch.indexer.runner import build_indices, index_collection
    from clipsearch.shapesworld import generate_corpus
    from clipsearch.storage.db import Database

    root = tmp_path_factory.mktemp("shapes-e2e")
    manifest = generate_corpus(root / "corpus", images=48, videos=6, texts=8, long_scenes=8, seed=11)
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(root / "data"),
            "spaces": {
                name: {
                    "model": f"local-dir:{SHAPES_MODELS_DIR / MODELS[name]}",
                    "device": "cpu",
                    "role": name,
                    **({"languages": ["en", "de", "fr", "es"]} if name == "multilingual" else {}),
                }
                for name in SPACES
            },
            "collections": {
                "shapes": {
                    "spaces": list(SPACES),
                    "sources": [{"path": str(root / "corpus" / "manifest.jsonl")}],
                    "video_sampling": f"fps:{FPS}",
                }
            },
            "indexer": {"decode_workers": 2, "prefetch_batches": 2},
        },
    )
    db = Database(settings.database_url)
    db.upgrade()
    summary = index_collection(settings, db, "shapes", RunOptions())
    outcomes = build_indices(settings, db, "shapes")
    db.dispose()
    assert {(o.space, o.unit): o.status for o in outcomes} == {
        (space, unit): "activated" for space in SPACES for unit in ("item", "frame")
    }
    uri_of = {e.id: str((root / "corpus" / e.path).resolve()) for e in manifest}
    return Indexed(settings, manifest, uri_of, summary.as_dict())


class ActiveIndex:
    """An active version loaded the way the searcher loads it, with labels mapped to assets/frames."""

    def __init__(self, settings: Settings, space: str, unit: str) -> None:
        import faiss

        from clipsearch.indexer.build import apply_search_params
        from clipsearch.storage import assets, catalog, vector_refs, versions
        from clipsearch.storage.db import Database
        from clipsearch.storage.index_files import load_version_dir

        db = Database(settings.database_url)
        with db.session() as session:
            cid = catalog.get_collection(session, "shapes").id
            record = catalog.get_space(session, space)
            active = versions.get_active_version(session, cid, record.id, unit)
            assert active is not None
            rows = vector_refs.vector_rows(session, cid, record.id, unit)
            refs = vector_refs.resolve_rows(session, record.id, rows.tolist())
            owners = assets.get_assets(session, {r.asset_id for r in refs.values()})
            frames = assets.get_frames(session, [r.frame_id for r in refs.values() if r.frame_id is not None])
        db.dispose()
        stored = load_version_dir(active.path, fingerprint=record.fingerprint, dim=record.dim)
        self.index = faiss.deserialize_index(np.frombuffer(stored.index_bytes, dtype=np.uint8))
        apply_search_params(
            self.index, {k: int(v) for k, v in (active.metrics.get("search_params") or {}).items()}
        )
        self.uri = {row: owners[ref.asset_id].uri for row, ref in refs.items()}
        self.t_sec = {
            row: frames[ref.frame_id].t_sec for row, ref in refs.items() if ref.frame_id is not None
        }
        assert int(self.index.ntotal) == len(refs) == active.ntotal

    def ranked_uris(self, query: np.ndarray, allowed: set[str]) -> list[str]:
        """Distinct asset uris in score order (frames max-pooled per asset), restricted to `allowed`."""
        _, labels = self.index.search(query[None, :].astype(np.float32), int(self.index.ntotal))
        out: list[str] = []
        for label in labels[0]:
            uri = self.uri.get(int(label))
            if uri in allowed and uri not in out:
                out.append(uri)
        return out

    def best_frame(self, query: np.ndarray, uri: str) -> float:
        _, labels = self.index.search(query[None, :].astype(np.float32), int(self.index.ntotal))
        return next(self.t_sec[int(r)] for r in labels[0] if self.uri.get(int(r)) == uri)


def _recall_at(ranked: list[list[str]], targets: list[str], k: int) -> float:
    return float(np.mean([t in r[:k] for r, t in zip(ranked, targets, strict=True)]))


def _encoder(settings: Settings, space: str) -> Any:
    from clipsearch.indexer.runner import load_encoders

    return load_encoders(settings, [space])[space]


def test_every_asset_of_every_kind_is_indexed_in_every_space(indexed: Indexed) -> None:
    from clipsearch.storage import assets, catalog, vector_refs
    from clipsearch.storage.db import Database

    manifest = indexed.manifest
    kinds = {e.type for e in manifest}
    assert kinds == {"image", "video", "text"}
    assert indexed.summary["indexed"] == len(manifest) and indexed.summary["failed_total"] == 0
    db = Database(indexed.settings.database_url)
    with db.session() as session:
        cid = catalog.get_collection(session, "shapes").id
        rows = {a.uri: a for a in assets.list_assets(session, cid, limit=10_000)}
        assert {rows[u].status for u in indexed.uri_of.values()} == {"indexed"}
        for space in SPACES:
            sid = catalog.get_space(session, space).id
            items = vector_refs.vector_rows(session, cid, sid, "item")
            assert len(items) == len(manifest), space
        # Video frames: sampled at FPS with their timestamps, one frame vector each in every space.
        for entry in manifest.select(type="video"):
            video = rows[indexed.uri_of[entry.id]]
            times = [f.t_sec for f in assets.list_frames(session, video.id)]
            assert entry.event is not None and video.duration_sec is not None
            assert len(times) == pytest.approx(video.duration_sec * FPS, abs=1.5)
            assert times == sorted(times) and times[0] == pytest.approx(0.0, abs=0.05)
            # Each sample is a real frame's timestamp: within one source frame of the 1/FPS grid.
            grid = np.arange(len(times)) / FPS
            assert np.abs(np.asarray(times) - grid).max() <= 1 / entry.event.fps + 1e-3, times
        # Captions in all four languages travel with the image rows (metadata), texts keep their body.
        image = rows[indexed.uri_of[manifest.select(type="image", split="test")[0].id]]
        assert set(image.metadata["captions"]) == {"en", "de", "fr", "es"}
        doc = manifest.select(type="text")[0]
        assert rows[indexed.uri_of[doc.id]].text
    db.dispose()


def test_text_to_image_on_held_out_captions_in_every_language(indexed: Indexed) -> None:
    manifest = indexed.manifest
    held_out = manifest.select(type="image", split="test", kind="short")
    gallery = {indexed.uri_of[e.id] for e in held_out}
    targets = [indexed.uri_of[e.id] for e in held_out]
    chance = 1 / len(held_out)
    results: dict[str, dict[str, float]] = {}
    for space, languages in (("default", ("en",)), ("multilingual", ("en", "de", "fr", "es"))):
        encoder = _encoder(indexed.settings, space)
        index = ActiveIndex(indexed.settings, space, "item")
        for lang in languages:
            queries = encoder.encode_texts([e.captions[lang] for e in held_out])
            ranked = [index.ranked_uris(q, gallery) for q in queries]
            results[f"{space}/{lang}"] = {
                "r1": _recall_at(ranked, targets, 1),
                "r5": _recall_at(ranked, targets, 5),
            }
    # The English space is the strong one; every language of the multilingual space well above chance.
    assert results["default/en"]["r1"] >= 0.5, results
    for key, got in results.items():
        assert got["r1"] >= 3 * chance and got["r5"] >= 2 * 5 * chance, (key, results)


def test_long_captions_find_their_scene_in_the_long_space(indexed: Indexed) -> None:
    manifest = indexed.manifest
    scenes = manifest.select(type="image", kind="long")
    gallery = {indexed.uri_of[e.id] for e in scenes}
    encoder = _encoder(indexed.settings, "long")
    index = ActiveIndex(indexed.settings, "long", "item")
    queries = encoder.encode_texts([(e.long_caption or {})["en"] for e in scenes])
    ranked = [index.ranked_uris(q, gallery) for q in queries]
    targets = [indexed.uri_of[e.id] for e in scenes]
    assert _recall_at(ranked, targets, 3) >= 2 * 3 / len(scenes), ranked


def test_event_queries_find_the_video_and_a_frame_inside_the_event(indexed: Indexed) -> None:
    manifest = indexed.manifest
    videos = manifest.select(type="video")
    gallery = {indexed.uri_of[e.id] for e in videos}
    encoder = _encoder(indexed.settings, "default")
    frames = ActiveIndex(indexed.settings, "default", "frame")
    queries = encoder.encode_texts([e.captions["en"] for e in videos])
    ranked = [frames.ranked_uris(q, gallery) for q in queries]  # videos by their best frame
    targets = [indexed.uri_of[e.id] for e in videos]
    assert _recall_at(ranked, targets, 2) >= 2 * 2 / len(videos), ranked
    in_window = [
        e.event is not None and e.event.contains(frames.best_frame(q, indexed.uri_of[e.id]))
        for e, q in zip(videos, queries, strict=True)
    ]
    assert np.mean(in_window) >= 0.5, in_window
