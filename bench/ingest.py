"""Ingest benchmark: end-to-end indexing vs encode-only throughput, and ANN recall/QPS vs Flat.

Part 1 — files on disk → active index (discover, decode, encode, write, build) in items/s, against
encode-only items/s (the same images already in memory, same model, same machine, same run).
Target: ratio ≥ 0.8.

Part 2 — synthetic clustered unit vectors (d=512) at 100k and 1M: the auto index's recall@10 and
single-query QPS against exact Flat search on the same queries, and bytes per vector.
Target at 1M: recall@10 ≥ 0.95 at ≥ 10× Flat's QPS.

    python bench/ingest.py            # 100k and 1M (about 10 minutes, ~5 GB RAM)
    python bench/ingest.py --quick    # 100k only
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _model(work: Path) -> str:
    shapes = REPO / "models" / "shapes-base"
    if (shapes / "open_clip_config.json").exists():
        return f"local-dir:{shapes}"
    from helpers.tiny_models import write_tiny_model

    return f"local-dir:{write_tiny_model(work / 'tiny', 'base', dtype='float32', image_size=64)}"


def ingest(images: int, threads: int) -> None:
    import torch
    from PIL import Image

    from clipsearch.config import load_settings
    from clipsearch.indexer.pipeline import RunOptions
    from clipsearch.indexer.runner import build_indices, index_collection, load_encoders
    from clipsearch.storage.db import Database

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = _model(work)
        corpus = work / "corpus"
        corpus.mkdir()
        rng = np.random.default_rng(0)
        pictures = []
        for i in range(images):
            picture = Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
            picture.save(corpus / f"img{i:05d}.jpg", quality=90)
            pictures.append(Image.open(corpus / f"img{i:05d}.jpg").convert("RGB"))
        settings = load_settings(
            None,
            environ={},
            overrides={
                "data_dir": str(work / "data"),
                "spaces": {"default": {"model": model, "batch_size": 32}},
                "collections": {"bench": {"spaces": ["default"], "sources": [{"path": str(corpus)}]}},
            },
        )
        encoders = load_encoders(settings, ["default"])
        encoder = encoders["default"]
        encoder.encode_images(pictures[:8])  # warm-up
        started = time.perf_counter()
        for start in range(0, len(pictures), 32):
            encoder.encode_images(pictures[start : start + 32])
        encode_rate = len(pictures) / (time.perf_counter() - started)

        db = Database(settings.database_url)
        db.upgrade()
        started = time.perf_counter()
        summary = index_collection(settings, db, "bench", RunOptions(), encoders=encoders)
        outcomes = build_indices(settings, db, "bench")
        end_to_end = summary.indexed / (time.perf_counter() - started)
        assert summary.indexed == images and outcomes[0].status == "activated"
        db.dispose()
    print(f"model: {model.rsplit('/', 1)[-1]}, {images} JPEG images 320x240, torch threads {threads}")
    print(f"encode-only:  {encode_rate:8.1f} items/s   (baseline: images already decoded in memory)")
    print(f"end-to-end:   {end_to_end:8.1f} items/s   (files on disk -> active index)")
    print(f"ratio end-to-end / encode-only: {end_to_end / encode_rate:.2f}   (target >= 0.80)")


def clustered(n: int, dim: int, seed: int, clusters: int = 2000) -> np.ndarray:
    """Unit vectors around random centres (with a spread of cluster sizes), in batches to bound memory."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.pareto(1.5, clusters) + 1
    weights /= weights.sum()
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        count = min(100_000, n - start)
        which = rng.choice(clusters, size=count, p=weights)
        block = centres[which] + rng.normal(scale=0.9 / np.sqrt(dim), size=(count, dim)).astype(np.float32)
        out[start : start + count] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def single_query_qps(index: object, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    found = np.empty((len(queries), k), dtype=np.int64)
    started = time.perf_counter()
    for i in range(len(queries)):
        _, labels = index.search(queries[i : i + 1], k)  # type: ignore[attr-defined]
        found[i] = labels[0]
    return len(queries) / (time.perf_counter() - started), found


def ann(n: int, threads: int, dim: int = 512) -> None:
    import faiss

    from clipsearch.indexer.build import build_index, recall_at_k

    faiss.omp_set_num_threads(threads)
    data = clustered(n, dim, seed=n)
    ids = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(1)
    queries = data[rng.choice(n, 200, replace=False)] + rng.normal(
        scale=0.3 / np.sqrt(dim), size=(200, dim)
    ).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    started = time.perf_counter()
    built = build_index(data, ids, spec="auto", memory_gb=8.0, threads=threads)
    build_seconds = time.perf_counter() - started
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    flat_qps, truth = single_query_qps(flat, queries[:50])
    ann_qps, found = single_query_qps(built.index, queries)
    recall = recall_at_k(found[:50], truth)
    print(
        f"{n:>9,} x {dim}: auto={built.factory} {built.search_params}  build {build_seconds:.0f} s  "
        f"recall@10 {recall:.4f} (tuned {built.recall_at_10:.4f})  "
        f"QPS {ann_qps:,.0f} vs Flat {flat_qps:,.1f} = {ann_qps / flat_qps:.1f}x  "
        f"bytes/vector {built.bytes_per_vector:.0f} (Flat {dim * 4})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="ANN at 100k only")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", help="ANN sizes (overrides --quick)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("== ingest throughput")
    ingest(args.images, args.threads)
    print("== ANN vs Flat (single-query, clustered synthetic vectors)")
    for n in args.sizes or ([100_000] if args.quick else [100_000, 1_000_000]):
        ann(n, args.threads)


if __name__ == "__main__":
    main()
