"""End to end through the search engine: real SQLite, real vector store, real FAISS (IVF-PQ item index)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from clipsearch.config import SearchSettings
from clipsearch.errors import InvalidRequest
from clipsearch.searcher.app import build_engine
from clipsearch.searcher.engine import SearchEngine
from clipsearch.searcher.types import FrameScoringOptions, RerankOptions, SearchQuery

from .conftest import MomentCorpus

pytestmark = pytest.mark.xdist_group("rerank-moments")


@pytest.fixture(scope="module")
def engine(moment_corpus: MomentCorpus) -> Iterator[SearchEngine]:
    built = build_engine(moment_corpus.settings)
    assert built.refresh()
    yield built


def video_query(corpus: MomentCorpus, j: int, **options: object) -> SearchQuery:
    return SearchQuery(
        collection=corpus.collection,
        vector=tuple(float(x) for x in corpus.concepts[j]),
        media_types=("video",),
        top_k=5,
        **options,  # type: ignore[arg-type]
    )


def test_exact_rerank_recovers_what_ivfpq_lost(engine: SearchEngine, moment_corpus: MomentCorpus) -> None:
    rng = np.random.default_rng(5)
    picks = rng.choice(len(moment_corpus.image_ids), 30, replace=False)
    queries = moment_corpus.image_vectors[picks] + 0.1 * rng.standard_normal((30, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(queries @ moment_corpus.image_vectors.T), axis=1)[:, :10]
    recall = {}
    for enabled in (False, True):
        hits = 0
        for q, true_rows in zip(queries, truth, strict=True):
            result = engine.search(
                SearchQuery(
                    collection=moment_corpus.collection,
                    vector=tuple(float(x) for x in q),
                    media_types=("image",),
                    top_k=10,
                    rerank=RerankOptions(enabled=enabled, depth=100),
                    frame_scoring=FrameScoringOptions(enabled=False),
                )
            )
            got = {h.item.item_id for h in result.hits}
            hits += len(got & set(moment_corpus.image_ids[true_rows].tolist()))
            if enabled:
                assert all(h.rerank is not None for h in result.hits)
                assert "rerank" in [t.stage for t in result.timings]
        recall[enabled] = hits / (10 * len(queries))
    assert recall[True] >= 0.95, recall
    assert recall[True] >= recall[False] + 0.1, recall


def test_frame_scoring_beats_holistic_and_finds_the_moment(
    engine: SearchEngine, moment_corpus: MomentCorpus
) -> None:
    concepts = range(len(moment_corpus.concepts))
    holistic = fine = inside = 0
    for j in concepts:
        plain = engine.search(video_query(moment_corpus, j, frame_scoring=FrameScoringOptions(enabled=False)))
        holistic += plain.hits[0].item.item_id == moment_corpus.event_video[j]
        result = engine.search(video_query(moment_corpus, j))
        top = result.hits[0]
        assert top.frame is not None and top.moment is not None and top.initial is not None
        # The fused score is exactly α·S_initial + (1−α)·S_frame with S_initial = the exact rerank score.
        assert top.score == pytest.approx(0.4 * top.rerank + 0.6 * top.frame, abs=1e-5)  # type: ignore[operator]
        if top.item.item_id == moment_corpus.event_video[j]:
            fine += 1
            start, end = moment_corpus.event_window[top.item.item_id]
            inside += start <= top.moment.t_sec <= end
            assert top.moment.segment_start_sec <= top.moment.t_sec <= top.moment.segment_end_sec
            assert len(top.moment.top_frames) == 3
    n = len(moment_corpus.concepts)
    assert holistic / n <= 0.5, holistic
    assert fine / n >= 0.9, fine
    assert fine / n >= holistic / n + 0.3
    assert inside / fine >= 0.9


def test_frame_first_finds_a_video_the_holistic_depth_misses(moment_corpus: MomentCorpus) -> None:
    found = {}
    for frame_first in (False, True):
        settings = moment_corpus.settings.model_copy(
            update={"search": SearchSettings(rerank_depth=3, frame_first=frame_first)}
        )
        engine = build_engine(settings)
        engine.refresh()
        found[frame_first] = sum(
            engine.search(video_query(moment_corpus, j)).hits[0].item.item_id == moment_corpus.event_video[j]
            for j in range(len(moment_corpus.concepts))
        )
    n = len(moment_corpus.concepts)
    assert found[True] / n >= 0.9, found
    assert found[True] >= found[False] + 0.3 * n, found


def test_bad_options_are_invalid_requests(engine: SearchEngine, moment_corpus: MomentCorpus) -> None:
    with pytest.raises(InvalidRequest, match="alpha"):
        engine.search(video_query(moment_corpus, 0, frame_scoring=FrameScoringOptions(alpha=1.5)))
    with pytest.raises(InvalidRequest, match="top_frames"):
        engine.search(video_query(moment_corpus, 0, frame_scoring=FrameScoringOptions(top_frames=1000)))
    with pytest.raises(InvalidRequest, match="rerank space"):
        engine.search(video_query(moment_corpus, 0, rerank=RerankOptions(space="nope")))


def test_cross_space_rerank_uses_the_second_space(engine: SearchEngine, moment_corpus: MomentCorpus) -> None:
    source_row = 7
    source = int(moment_corpus.image_ids[source_row])
    result = engine.search(
        SearchQuery(
            collection=moment_corpus.collection,
            item_id=str(source),
            media_types=("image",),
            top_k=10,
            rerank=RerankOptions(enabled=True, depth=50, space="strong"),
        )
    )
    assert result.hits and all(h.item.item_id != source for h in result.hits)
    row_of = {int(i): r for r, i in enumerate(moment_corpus.image_ids.tolist())}
    q_strong = moment_corpus.image_vectors[source_row] @ moment_corpus.rotation
    for hit in result.hits:
        assert hit.rerank is not None
        x_strong = moment_corpus.image_vectors[row_of[hit.item.item_id]] @ moment_corpus.rotation
        # The rerank score is the cosine of the item's and the hit's vectors in the *second* space.
        assert hit.rerank == pytest.approx(float(q_strong @ x_strong), abs=1e-4)
    # Final scores are RRF of the two orders (never raw cosines of two spaces mixed).
    assert all(0 < h.score <= 2 / 61 + 1e-9 for h in result.hits)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
