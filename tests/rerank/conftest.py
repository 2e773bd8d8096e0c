"""Synthetic clustered vectors shared by the rerank tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from clipsearch.config import CollectionSettings, Settings, SpaceSettings


def clustered(n: int, dim: int, clusters: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """L2-normalised points around random centres (enough structure for IVF/PQ to matter)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def make_clustered() -> Callable[..., np.ndarray]:
    return clustered


@dataclass(frozen=True, slots=True)
class MomentCorpus:
    """Images + videos in real SQLite, a real vector store (fp16) and real FAISS indices.

    Every video j shows concept j only in a short event window; decoy video j (another video) leans
    towards concept j a little in every frame, so its mean beats the event video's mean while its best
    frame does not. Images are clustered, for the exact-rerank checks.
    """

    settings: Settings
    collection: str
    concepts: np.ndarray  # (videos, dim): the query for video j is concepts[j]
    event_video: dict[int, int]  # concept j → item id of its event video
    decoy_video: dict[int, int]  # concept j → item id of its decoy
    event_window: dict[int, tuple[float, float]]  # item id → (start, end) seconds of the event
    image_ids: np.ndarray
    image_vectors: np.ndarray
    rotation: np.ndarray  # space "strong" = space "default" @ rotation


def build_moment_corpus(
    root: Path,
    *,
    videos: int = 30,
    frames: int = 20,
    event_frames: int = 2,
    images: int = 3000,
    dim: int = 32,
    item_spec: str = "IVF16,PQ4x4",
    seed: int = 0,
) -> MomentCorpus:
    from clipsearch.indexer.layout import vector_store_dir
    from clipsearch.searcher.synthetic import activate_index
    from clipsearch.storage import assets, catalog, vector_refs
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import NewVectorRef
    from clipsearch.storage.vectors import VectorStore

    settings = Settings(
        data_dir=root / "data",
        spaces={
            "default": SpaceSettings(model=f"local-dir:{root / 'no-model'}"),
            "strong": SpaceSettings(model=f"local-dir:{root / 'no-strong-model'}"),
        },
        collections={"moments": CollectionSettings(spaces=("default", "strong"))},
    )
    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    concepts = unit(rng.standard_normal((videos, dim)))
    db = Database(settings.database_url)
    db.create_all()
    store = VectorStore.create(vector_store_dir(settings.data_dir, "default"), dim, "float16")
    event_video: dict[int, int] = {}
    decoy_video: dict[int, int] = {}
    window: dict[int, tuple[float, float]] = {}
    item_rows: list[tuple[int, np.ndarray]] = []
    frame_rows: list[tuple[int, int, np.ndarray]] = []
    image_ids: list[int] = []
    image_vectors = clustered(images, dim, clusters=40, seed=seed + 1, spread=0.6)
    with db.session() as session:
        coll = catalog.ensure_collection(session, "moments")
        space = catalog.ensure_space(session, "default", fingerprint="moments-v1", dim=dim, context_length=77)
        for j in range(videos):
            for role in ("event", "decoy"):
                record, _ = assets.upsert_asset(
                    session, coll.id, f"moments://{role}-{j:03d}.mp4", "video", duration_sec=float(frames)
                )
                assets.set_asset_status(session, record.id, "indexed")
                stored = assets.replace_frames(session, record.id, [(f, float(f)) for f in range(frames)])
                theme = unit(rng.standard_normal(dim))
                start = int(rng.integers(0, frames - event_frames + 1))
                vectors = []
                for f in range(frames):
                    if role == "event" and start <= f < start + event_frames:
                        v = unit(concepts[j] + 0.15 * rng.standard_normal(dim) / np.sqrt(dim))
                    elif role == "event":
                        v = unit(theme + 0.8 * rng.standard_normal(dim) / np.sqrt(dim))
                    else:  # the decoy leans towards the concept in every frame, never strongly
                        v = unit(
                            0.3 * concepts[j] + 0.7 * theme + 0.5 * rng.standard_normal(dim) / np.sqrt(dim)
                        )
                    vectors.append(v)
                    frame_rows.append((record.id, stored[f].id, v))
                item_rows.append((record.id, unit(np.mean(vectors, axis=0))))
                if role == "event":
                    event_video[j] = record.id
                    window[record.id] = (float(start), float(start + event_frames - 1))
                else:
                    decoy_video[j] = record.id
        for i in range(images):
            record, _ = assets.upsert_asset(session, coll.id, f"moments://image-{i:05d}.png", "image")
            assets.set_asset_status(session, record.id, "indexed")
            image_ids.append(record.id)
            item_rows.append((record.id, image_vectors[i]))
        item_matrix = np.stack([v for _a, v in item_rows])
        frame_matrix = np.stack([v for _a, _f, v in frame_rows])
        item_row_ids = store.append(item_matrix)
        frame_row_ids = store.append(frame_matrix)
        store.seal()
        refs = [NewVectorRef(a, int(r)) for (a, _v), r in zip(item_rows, item_row_ids, strict=True)]
        refs += [NewVectorRef(a, int(r), f) for (a, f, _v), r in zip(frame_rows, frame_row_ids, strict=True)]
        vector_refs.add_vector_refs(session, space.id, refs)
    store.close()
    # A second space whose vectors are a rotation of the first: same cosines, different coordinates, so a
    # cross-space rerank that mixed up the two spaces' vectors would produce visibly wrong scores.
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    strong_matrix = item_matrix @ rotation
    strong_store = VectorStore.create(vector_store_dir(settings.data_dir, "strong"), dim, "float32")
    strong_rows = strong_store.append(strong_matrix)
    strong_store.seal()
    strong_store.close()
    with db.session() as session:
        strong = catalog.ensure_space(session, "strong", fingerprint="strong-v1", dim=dim, context_length=77)
        vector_refs.add_vector_refs(
            session,
            strong.id,
            [NewVectorRef(a, int(r)) for (a, _v), r in zip(item_rows, strong_rows, strict=True)],
        )
    activate_index(db, settings.data_dir, "moments", "strong", "item", strong_matrix, strong_rows, "Flat")
    activate_index(db, settings.data_dir, "moments", "default", "item", item_matrix, item_row_ids, item_spec)
    activate_index(db, settings.data_dir, "moments", "default", "frame", frame_matrix, frame_row_ids, "Flat")
    db.dispose()
    return MomentCorpus(
        settings,
        "moments",
        concepts,
        event_video,
        decoy_video,
        window,
        np.asarray(image_ids, dtype=np.int64),
        image_vectors,
        rotation,
    )


@pytest.fixture(scope="session")
def moment_corpus(tmp_path_factory: pytest.TempPathFactory) -> MomentCorpus:
    return build_moment_corpus(tmp_path_factory.mktemp("moments"))
