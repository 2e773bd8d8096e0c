"""Exact rerank recovers what a compressed (IVF-PQ) first stage lost, on real faiss indices."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.rerank.exact import array_fetch, exact_scores, rescore


def identity_rows(size: int):  # ids are row numbers; ids outside the store are missing
    def rows(ids: np.ndarray) -> np.ndarray:
        return np.where((ids >= 0) & (ids < size), ids, -1)

    return rows


def test_rescore_keeps_candidate_order_and_reports_missing() -> None:
    store = np.eye(4, dtype=np.float16)
    query = np.array([0.1, 0.7, 0.0, 0.7], dtype=np.float32)
    result = rescore(query, [3, 9, 1, 0], array_fetch(identity_rows(4), store))
    assert result.ids.tolist() == [3, 1, 0]
    np.testing.assert_allclose(result.scores, [0.7, 0.7, 0.1], rtol=1e-6)
    assert result.scores.dtype == np.float32
    assert result.missing == (9,)
    assert rescore(query, [], array_fetch(identity_rows(4), store)).ids.size == 0


def test_dimension_mismatch_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        exact_scores(np.ones(3, np.float32), np.ones((2, 4), np.float32))


def test_exact_rerank_recovers_ivfpq_losses(make_clustered: Callable[..., np.ndarray]) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    dim, n, k, depth = 64, 20_000, 10, 100
    base = make_clustered(n, dim, clusters=200, seed=1)
    queries = make_clustered(200, dim, clusters=200, seed=1)[:50] + 0.05 * np.random.default_rng(
        2
    ).standard_normal((50, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(dim)
    exact.add(base)
    _, truth = exact.search(queries, k)

    ivfpq = faiss.index_factory(dim, "IVF64,PQ8x4", faiss.METRIC_INNER_PRODUCT)
    ivfpq.train(base)
    ivfpq.add(base)
    faiss.extract_index_ivf(ivfpq).nprobe = 16
    _, approx = ivfpq.search(queries, depth)

    store = base.astype(np.float16)  # what the vector store keeps
    fetch = array_fetch(identity_rows(n), store)
    hits_ann = hits_rerank = 0
    for qi in range(len(queries)):
        hits_ann += len(set(approx[qi, :k].tolist()) & set(truth[qi].tolist()))
        result = rescore(queries[qi], approx[qi][approx[qi] >= 0], fetch)
        top = result.ids[np.argsort(-result.scores, kind="stable")[:k]]
        hits_rerank += len(set(top.tolist()) & set(truth[qi].tolist()))
    recall_ann = hits_ann / (k * len(queries))
    recall_rerank = hits_rerank / (k * len(queries))
    assert recall_rerank >= 0.95
    assert recall_rerank >= recall_ann + 0.1, (recall_ann, recall_rerank)
