"""Ingest benchmark: end-to-end indexing vs encode-only throughput, and ANN recall/QPS vs Flat.

Part 1 — files on disk → active index (discover, read+hash, decode, preprocess, encode, write the
vector store and SQL, build + tune + activate the FAISS index) in items/s, against encode-only
items/s: the same pictures already decoded in memory, `encoder.encode_images` (preprocess + forward),
same model, same torch threads, same run. The two are measured in alternating rounds and the
medians compared, so load from other processes hits both alike. Target: ratio ≥ 0.8. Run for the
shapes-world model (`models/shapes-base`, or `--model`) and for a tiny random model, where the model
is so cheap that reading, decoding and writing dominate.

Part 2 — synthetic clustered unit vectors (d=512) at 100k and 1M: the auto index's recall@10 on
fresh held-out queries (not the tuning ones) and single-query QPS against exact Flat search on the
same queries, and bytes per vector. Target at 1M: recall@10 ≥ 0.95 at ≥ 10× Flat's QPS.

    python bench/ingest.py                 # ingest + ANN at 100k and 1M (about 10 minutes, ~7 GB RAM)
    python bench/ingest.py --quick         # ingest + ANN at 100k only
    python bench/ingest.py --no-ann        # ingest only
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _tiny_model(work: Path) -> str:
    from helpers.tiny_models import write_tiny_model

    return f"local-dir:{write_tiny_model(work / 'tiny', 'base', dtype='float32', image_size=64)}"


def _corpus(folder: Path, images: int, kind: str) -> list[object]:
    """Writes the corpus and returns the same pictures decoded (the encode-only input).

    `photos`: photo-like JPEGs (320x240, smooth gradients + noise); `shapes`: shapes-world scenes
    (128x128 PNG, what the shapes models were trained on).
    """
    from PIL import Image

    if kind == "shapes":
        from clipsearch.shapesworld import generate_corpus

        manifest = generate_corpus(folder, images=images, videos=0, texts=0, long_scenes=0, seed=5)
        (folder / "manifest.jsonl").unlink()  # index the pictures only
        return [Image.open(manifest.path(e)).convert("RGB") for e in manifest]
    folder.mkdir()
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)
    pictures: list[object] = []
    for i in range(images):
        a, b, c = rng.uniform(0.2, 1.5, 3)
        base = np.stack([xs * a, ys * b, (xs + ys) * c], axis=-1) % 256
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:05d}.jpg", quality=90)
        pictures.append(Image.open(folder / f"img{i:05d}.jpg").convert("RGB"))
    return pictures


def ingest(model: str | None, images: int, threads: int, rounds: int, corpus: str = "photos") -> float:
    """Alternate encode-only and end-to-end rounds; print both medians and their ratio."""
    import torch

    from clipsearch.config import load_settings
    from clipsearch.indexer.pipeline import RunOptions
    from clipsearch.indexer.runner import build_indices, index_collection, load_encoders
    from clipsearch.storage.db import Database

    torch.set_num_threads(threads)  # the ONNX backend sizes its pool from this too
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = model or _tiny_model(work)
        pictures = _corpus(work / "corpus", images, corpus)

        def settings_for(data_dir: Path):  # type: ignore[no-untyped-def]
            return load_settings(
                None,
                environ={},
                overrides={
                    "data_dir": str(data_dir),
                    "spaces": {"default": {"model": model, "batch_size": 32}},
                    "collections": {
                        "bench": {"spaces": ["default"], "sources": [{"path": str(work / "corpus")}]}
                    },
                    "indexer": {"decode_workers": 2, "prefetch_batches": 4},
                },
            )

        encoders = load_encoders(settings_for(work / "warm"), ["default"])
        encoder = encoders["default"]
        encoder.encode_images(pictures[:32])  # warm-up
        encode_rates, e2e_rates, build_shares = [], [], []
        for round_number in range(rounds):
            started = time.perf_counter()
            for start in range(0, len(pictures), 32):
                encoder.encode_images(pictures[start : start + 32])  # type: ignore[arg-type]
            encode_rates.append(len(pictures) / (time.perf_counter() - started))

            settings = settings_for(work / f"data{round_number}")
            db = Database(settings.database_url)
            db.upgrade()
            started = time.perf_counter()
            summary = index_collection(settings, db, "bench", RunOptions(), encoders=encoders)
            built_at = time.perf_counter()
            outcomes = build_indices(settings, db, "bench")
            total = time.perf_counter() - started
            assert summary.indexed == images and outcomes[0].status == "activated", (summary, outcomes)
            e2e_rates.append(summary.indexed / total)
            build_shares.append((total - (built_at - started)) / total)
            db.dispose()
    encode_rate, e2e_rate = statistics.median(encode_rates), statistics.median(e2e_rates)
    what = "JPEG photos 320x240" if corpus == "photos" else "shapes-world PNG scenes 128x128"
    print(
        f"model {model.rsplit('/', 1)[-1]} ({encoder.info.precision}, {encoder.info.backend}), "
        f"{images} {what}, {threads} threads, {rounds} alternating rounds"
    )
    print(
        f"  encode-only: {encode_rate:8.1f} items/s  (baseline: decoded pictures in memory; "
        f"rounds {', '.join(f'{r:.0f}' for r in encode_rates)})"
    )
    print(
        f"  end-to-end:  {e2e_rate:8.1f} items/s  (files on disk -> active index; "
        f"rounds {', '.join(f'{r:.0f}' for r in e2e_rates)}; index build "
        f"{100 * statistics.median(build_shares):.0f}% of the time)"
    )
    ratio = e2e_rate / encode_rate
    print(f"  ratio end-to-end / encode-only: {ratio:.2f}   (target >= 0.80)")
    return ratio


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


def single_query_qps(
    index: object, queries: np.ndarray, threads: int, k: int = 10
) -> tuple[float, np.ndarray]:
    """Queries one at a time; the best of 1 and `threads` OpenMP threads (a single query is often too
    small to split, and a server answers concurrent queries on separate threads anyway)."""
    import faiss

    best = 0.0
    found = np.empty((len(queries), k), dtype=np.int64)
    for count in sorted({1, threads}):
        faiss.omp_set_num_threads(count)
        index.search(queries[:2], k)  # type: ignore[attr-defined]  # warm-up
        started = time.perf_counter()
        for i in range(len(queries)):
            _, labels = index.search(queries[i : i + 1], k)  # type: ignore[attr-defined]
            found[i] = labels[0]
        best = max(best, len(queries) / (time.perf_counter() - started))
    faiss.omp_set_num_threads(threads)
    return best, found


def ann(n: int, threads: int, dim: int = 512) -> None:
    import faiss

    from clipsearch.indexer.build import QUERY_NOISE, build_index, recall_at_k

    faiss.omp_set_num_threads(threads)
    data = clustered(n, dim, seed=n)
    ids = np.arange(n, dtype=np.int64)
    # Fresh queries from their own generator: never the samples the build tuned on.
    rng = np.random.default_rng(12345)
    queries = data[rng.choice(n, 400, replace=False)] + rng.normal(
        scale=QUERY_NOISE / np.sqrt(dim), size=(400, dim)
    ).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    started = time.perf_counter()
    built = build_index(data, ids, spec="auto", memory_gb=8.0, threads=threads)
    build_seconds = time.perf_counter() - started
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    _, truth = flat.search(queries, 10)  # batched exact ground truth for every query
    flat_qps, _ = single_query_qps(flat, queries[:40], threads)
    ann_qps, found = single_query_qps(built.index, queries, threads)
    recall = recall_at_k(found, truth)
    print(
        f"{n:>9,} x {dim}: auto={built.factory} {built.search_params}  build {build_seconds:.0f} s "
        f"(train {built.train_seconds:.0f}, add {built.add_seconds:.0f}, tune {built.tune_seconds:.0f})"
    )
    print(
        f"    recall@10 {recall:.4f} on {len(queries)} fresh queries (tuned: {built.recall_at_10:.4f} "
        f"on {built.tuning_queries})   single-query QPS {ann_qps:,.0f} vs Flat {flat_qps:,.1f} = "
        f"{ann_qps / flat_qps:.1f}x   bytes/vector {built.bytes_per_vector:.0f} (Flat {dim * 4})"
    )
    print(
        f"    target recall@10 >= 0.95 at >= 10x Flat: "
        f"{'met' if recall >= 0.95 and ann_qps >= 10 * flat_qps else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="ANN at 100k only")
    parser.add_argument("--no-ann", action="store_true", help="ingest throughput only")
    parser.add_argument("--no-ingest", action="store_true", help="ANN only")
    parser.add_argument("--model", help="model for part 1 (default: models/shapes-base when present)")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", help="ANN sizes (overrides --quick)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.no_ingest:
        shapes = REPO / "models" / "shapes-base"
        model = args.model or (f"local-dir:{shapes}" if (shapes / "open_clip_config.json").exists() else None)
        if model:
            print("== ingest throughput: shapes-world model on shapes-world scenes (the realistic case)")
            ingest(model, args.images, args.threads, args.rounds, "shapes")
            print("== ingest throughput: shapes-world model on JPEG photos")
            ingest(model, args.images, args.threads, args.rounds, "photos")
        else:
            print("== ingest throughput: models/shapes-base is not trained yet (or pass --model)")
        print("== ingest throughput: tiny random model (2-layer ViT, 64 px) on JPEG photos")
        ingest(None, args.images, args.threads, args.rounds, "photos")
    if not args.no_ann:
        print("== ANN vs Flat (single-query, clustered synthetic vectors)")
        for n in args.sizes or ([100_000] if args.quick else [100_000, 1_000_000]):
            ann(n, args.threads)


if __name__ == "__main__":
    main()
