"""FAISS's BLAS threshold for batched searches: set by the engine's composition, results unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest

from clipsearch.searcher.app import build_engine
from clipsearch.searcher.faiss_runtime import BATCH_BLAS_THRESHOLD, use_blas_for_batches
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.searcher.types import FrameScoringOptions, RerankOptions, SearchQuery
from clipsearch.storage.db import Database
from searcher.conftest import make_settings


@pytest.fixture
def faiss_default() -> Iterator[int]:
    saved = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 128000  # FAISS's own default
    yield saved
    faiss.cvar.distance_compute_blas_threshold = saved


def test_only_lowered(faiss_default: int) -> None:
    use_blas_for_batches()
    assert faiss.cvar.distance_compute_blas_threshold == BATCH_BLAS_THRESHOLD
    faiss.cvar.distance_compute_blas_threshold = 20  # an older FAISS's count of queries
    use_blas_for_batches()
    assert faiss.cvar.distance_compute_blas_threshold == 20


def test_a_batch_through_blas_ranks_as_single_searches(tmp_path: Path, faiss_default: int) -> None:
    settings = make_settings(tmp_path)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, n_items=400, dim=64)
    db.dispose()
    engine = build_engine(settings)
    assert faiss.cvar.distance_compute_blas_threshold == BATCH_BLAS_THRESHOLD
    engine.refresh()
    rng = np.random.default_rng(3)
    queries = [
        SearchQuery(
            collection="synthetic",
            vector=tuple((corpus.centres[i % len(corpus.centres)] + 0.1 * rng.standard_normal(64)).tolist()),
            top_k=8,
            rerank=RerankOptions(enabled=False),
            frame_scoring=FrameScoringOptions(enabled=False),
        )
        for i in range(40)  # 40 × 64 components: the batch goes through BLAS
    ]
    batched = engine.search_many(queries)
    for query, together in zip(queries, batched, strict=True):
        alone = engine.search(query)  # 64 components: FAISS's own scan
        assert not isinstance(together, Exception)
        assert [h.item.item_id for h in together.hits] == [h.item.item_id for h in alone.hits]
        np.testing.assert_allclose(
            [h.score for h in together.hits], [h.score for h in alone.hits], rtol=1e-5, atol=1e-6
        )
