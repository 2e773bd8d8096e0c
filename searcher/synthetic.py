"""Synthetic corpora written through the real storage + a real built FAISS index (tests, benchmarks).

Vectors are clustered random unit vectors: item i belongs to cluster `i % clusters`, so a query near a
cluster centre has a known set of right answers. Video items get frames whose vectors drift away from
the cluster centre except in one "event" window, so frame scoring has a known best moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clipsearch.searcher.types import MediaType

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.storage.db import Database


@dataclass(frozen=True, slots=True)
class SyntheticCorpus:
    collection: str
    space: str
    centres: np.ndarray
    #: item id → cluster, media type
    clusters: dict[int, int]
    media: dict[int, MediaType]
    #: video item id → time (s) of its event frame
    event_t: dict[int, float]
    item_vectors: dict[int, np.ndarray]


def unit(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def write_corpus(
    db: Database,
    root: Path,
    *,
    collection: str = "synthetic",
    space: str = "default",
    fingerprint: str = "synthetic-v1",
    n_items: int = 200,
    dim: int = 32,
    clusters: int = 10,
    video_every: int = 5,
    text_every: int = 7,
    frames_per_video: int = 8,
    seed: int = 0,
    spec: str = "Flat",
) -> SyntheticCorpus:
    """Assets + frames + vector refs in the database, item and frame indices built and activated."""
    import numpy as np

    from clipsearch.storage import assets, catalog, vector_refs
    from clipsearch.storage.records import NewAsset, NewVectorRef

    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, dim)))
    kinds: list[MediaType] = [
        "video" if i % video_every == 1 else "text" if i % text_every == 3 else "image"
        for i in range(n_items)
    ]
    suffix = {"image": "png", "video": "mp4", "text": "txt"}
    new = [
        NewAsset(
            uri=f"synthetic://{collection}/{i:06d}.{suffix[media]}",
            media_type=media,
            metadata={"cluster": i % clusters, "n": i, "tag": "even" if i % 2 == 0 else "odd"},
            text=f"item {i} of cluster {i % clusters}",
            duration_sec=float(frames_per_video) if media == "video" else None,
        )
        for i, media in enumerate(kinds)
    ]
    # Item vectors for all non-video items at once; videos get the mean of their frames below.
    noise = 0.5 * rng.standard_normal((n_items, dim)) / np.sqrt(dim)
    plain = unit(centres[np.arange(n_items) % clusters] + noise)
    cluster_of: dict[int, int] = {}
    media_of: dict[int, MediaType] = {}
    event_t: dict[int, float] = {}
    item_vectors: dict[int, np.ndarray] = {}
    item_rows: list[tuple[int, np.ndarray]] = []
    frame_rows: list[tuple[int, int, np.ndarray]] = []
    with db.session() as session:
        coll = catalog.ensure_collection(session, collection)
        sp = catalog.ensure_space(session, space, fingerprint=fingerprint, dim=dim, context_length=77)
        # One batched INSERT for every asset: per-row upserts take minutes at 100k items.
        ids = assets.insert_assets(session, coll.id, new, status="indexed")
        for i, (asset_id, media) in enumerate(zip(ids, kinds, strict=True)):
            cluster = i % clusters
            if media == "video":
                event = int(rng.integers(0, frames_per_video))
                frames = assets.replace_frames(
                    session, asset_id, [(f, float(f)) for f in range(frames_per_video)]
                )
                vectors = []
                for f, frame in enumerate(frames):
                    off_event = 0.4 + 2.0 * rng.random() if f != event else 0.1
                    v = unit(centres[cluster] + off_event * rng.standard_normal(dim) / np.sqrt(dim))
                    vectors.append(v)
                    frame_rows.append((asset_id, frame.id, v))
                vector = unit(np.mean(vectors, axis=0))
                event_t[asset_id] = float(event)
            else:
                vector = plain[i]
            cluster_of[asset_id] = cluster
            media_of[asset_id] = media
            item_vectors[asset_id] = vector
            item_rows.append((asset_id, vector))
        # Row ids: items first, then frames (the vector store would hand these out).
        refs = [NewVectorRef(asset_id=a, row_id=r) for r, (a, _v) in enumerate(item_rows)]
        base = len(item_rows)
        refs += [
            NewVectorRef(asset_id=a, row_id=base + r, frame_id=f) for r, (a, f, _v) in enumerate(frame_rows)
        ]
        vector_refs.add_vector_refs(session, sp.id, refs)
    item_matrix = np.stack([v for _a, v in item_rows])
    activate_index(
        db, root, collection, space, "item", item_matrix, np.arange(len(item_rows), dtype=np.int64), spec
    )
    if frame_rows:
        frame_matrix = np.stack([v for _a, _f, v in frame_rows])
        activate_index(
            db,
            root,
            collection,
            space,
            "frame",
            frame_matrix,
            base + np.arange(len(frame_rows), dtype=np.int64),
        )
    return SyntheticCorpus(collection, space, centres, cluster_of, media_of, event_t, item_vectors)


def activate_index(
    db: Database,
    root: Path,
    collection: str,
    space: str,
    unit_name: str,
    vectors: np.ndarray,
    row_ids: np.ndarray,
    spec: str = "Flat",
) -> int:
    """Build an index, write it into a fresh version folder, register it and activate it; returns the version."""
    from clipsearch.indexer.activate import write_built_version
    from clipsearch.indexer.build import build_index
    from clipsearch.storage import versions

    built = build_index(vectors, row_ids, spec=spec, device="cpu")
    record = write_built_version(db, root, collection, space, unit_name, built)
    with db.session() as session:
        versions.activate_version(session, record.id)
    return record.version
