"""FAISS builds: auto selection, ids, tuning to the recall target, measured against exact search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from faiss.contrib.evaluation import knn_intersection_measure

from clipsearch.errors import InvalidRequest
from clipsearch.indexer.build import (
    FLAT_MAX,
    TUNING_MARGIN,
    apply_search_params,
    build_index,
    choose_index,
    normalise_factory,
    tuning_queries,
)


def clustered(n: int, dim: int, seed: int = 0, clusters: int = 100) -> np.ndarray:
    """Unit vectors around random centres: realistic structure, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    data = centres[rng.integers(0, clusters, n)] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def test_auto_rules_follow_size_and_memory_budget() -> None:
    assert choose_index(500, 512, 8).factory == "Flat"
    assert choose_index(FLAT_MAX, 512, 8).factory == "Flat"
    assert choose_index(100_000, 512, 8).factory == "IVF1024,Flat"
    assert choose_index(1_000_000, 512, 8).factory == "IVF4096,Flat"
    assert choose_index(1_000_000, 512, 1.5).factory == "IVF4096,SQfp16"
    assert choose_index(1_000_000, 512, 0.6).factory == "IVF4096,SQ8"
    assert choose_index(10_000_000, 512, 1).factory == "OPQ64_256,IVF16384,PQ64x8"
    assert choose_index(100_000_000, 512, 16).factory.startswith("OPQ64_256,IVF32768")
    assert choose_index(1_000_000_000, 512, 1000).factory.startswith("IVF131072_HNSW32,")
    # never fewer than ~39 points per list
    assert choose_index(40_000, 8, 8).factory == "IVF1024,Flat"
    assert normalise_factory(" IDMap2,HNSW32,Flat ") == "HNSW32,Flat"


def test_small_collections_get_exact_flat_with_store_ids() -> None:
    data = clustered(300, 16)
    ids = np.arange(300, dtype=np.int64) * 7 + 1000
    built = build_index(data, ids, threads=1)
    assert built.factory == "Flat" and built.recall_at_10 == 1.0 and built.search_params == {}
    _, labels = built.index.search(data[:5], 1)
    assert labels[:, 0].tolist() == ids[:5].tolist()
    assert built.index.reconstruct(int(ids[3])) == pytest.approx(data[3])
    assert built.metrics()["recall_at_10"] == 1.0 and built.metrics()["bytes_per_vector"] >= 16 * 4


def test_ivf_is_tuned_to_the_recall_target_against_exact_ground_truth() -> None:
    data = clustered(FLAT_MAX + 10_000, 32)
    ids = np.arange(len(data), dtype=np.int64) + 5
    built = build_index(data, ids, recall_target=0.95, threads=1)
    assert built.factory.startswith("IVF") and set(built.search_params) == {"nprobe"}
    assert built.recall_at_10 >= 0.95
    # The sweep stopped at the first value that reached the target plus the margin on both samples.
    reached = [float(r) for r in built.sweep.values()]
    wanted = 0.95 + TUNING_MARGIN
    assert reached[-1] >= wanted and all(r < wanted for r in reached[:-1])
    assert built.tuning_queries == 2 * 500
    # Independent check on fresh queries with faiss.contrib's measure against an exact index.
    queries = tuning_queries(data, seed=99, count=200)
    exact = faiss.IndexFlatIP(32)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    _, found = built.index.search(queries, 10)
    measured = knn_intersection_measure(found, ids[truth])
    assert measured >= 0.94
    # A lower nprobe really is worse, so the tuning mattered.
    apply_search_params(built.index, {"nprobe": 1})
    _, coarse = built.index.search(queries, 10)
    assert knn_intersection_measure(coarse, ids[truth]) < measured


def test_explicit_factories_hnsw_and_a_weak_pq() -> None:
    data = clustered(4000, 32, seed=3)
    ids = np.arange(4000, dtype=np.int64)
    hnsw = build_index(data, ids, spec="HNSW16,Flat", threads=1)
    assert set(hnsw.search_params) == {"efSearch"} and hnsw.recall_at_10 >= 0.95
    weak = build_index(data, ids, spec="IDMap2,IVF16,PQ4x4", threads=1)
    assert weak.factory == "IVF16,PQ4x4" and weak.recall_at_10 < 0.95  # measured honestly, not assumed
    with pytest.raises(InvalidRequest, match="index_factory"):
        build_index(data, ids, spec="NotAnIndex42")


def test_bad_inputs_are_rejected() -> None:
    data = clustered(10, 8)
    with pytest.raises(InvalidRequest):
        build_index(data, np.zeros(10, dtype=np.int64))
    with pytest.raises(InvalidRequest):
        build_index(data, np.arange(9))
    with pytest.raises(InvalidRequest):
        build_index(data[:0], np.arange(0))
    with pytest.raises(InvalidRequest):
        build_index(data, np.arange(10), device="tpu")
