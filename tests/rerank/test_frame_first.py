"""Frame-first retrieval finds a video whose mean vector misses the query."""

from __future__ import annotations

import numpy as np

from clipsearch.searcher.rerank.frame_first import group_by_video, merge_rankings
from clipsearch.searcher.rerank.fusion import rrf


def test_group_by_video_max_pools_and_filters() -> None:
    row_video = np.array([10, 10, 11, 12, 12, 12])
    row_times = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 2.0])
    scores = np.array([0.5, 0.9, 0.7, 0.2, 0.95, -1.0], dtype=np.float32)
    rows = np.array([0, 1, 2, 3, 4, -1])
    hits = group_by_video(scores, rows, row_video, row_times)
    assert hits.video_ids.tolist() == [12, 10, 11]
    np.testing.assert_allclose(hits.scores, [0.95, 0.9, 0.7])
    assert hits.best_t_sec.tolist() == [1.0, 1.0, 0.0]
    filtered = group_by_video(scores, rows, row_video, row_times, allowed=np.array([10, 11]))
    assert filtered.video_ids.tolist() == [10, 11]
    assert group_by_video(scores[:0], rows[:0], row_video).video_ids.size == 0


def test_merge_is_rrf_union_cut_at_depth() -> None:
    merged = merge_rankings([1, 2, 3], [3, 4], depth=3)
    assert merged == [video for video, _ in rrf([[1, 2, 3], [3, 4]])][:3]
    assert merged[0] == 3  # in both lists
    assert set(merge_rankings([1, 2, 3], [3, 4], depth=10)) == {1, 2, 3, 4}


def test_video_whose_mean_misses_is_found_through_its_frames() -> None:
    import faiss

    rng = np.random.default_rng(3)
    dim, videos, frames = 32, 200, 20
    noise = rng.standard_normal((videos, frames, dim)).astype(np.float32)
    # 200 decoy videos lean towards the query a little in every frame; the target shows it in 1 frame.
    query = np.zeros(dim, np.float32)
    query[0] = 1.0
    frame_vectors = noise + 0.0
    frame_vectors[:, :, 0] += 2.5
    target = 123
    frame_vectors[target, :, 0] = -2.0
    frame_vectors[target, 7] = 0.0
    frame_vectors[target, 7, 0] = 1.0
    frame_vectors /= np.linalg.norm(frame_vectors, axis=2, keepdims=True)
    holistic = frame_vectors.mean(axis=1)
    holistic /= np.linalg.norm(holistic, axis=1, keepdims=True)
    depth = 20
    holistic_rank = np.argsort(-(holistic @ query))[:depth].tolist()
    assert target not in holistic_rank  # the mean misses: holistic search cannot find it

    flat = frame_vectors.reshape(-1, dim)
    index = faiss.IndexFlatIP(dim)
    index.add(flat)
    scores, rows = index.search(query[None], depth)
    row_video = np.repeat(np.arange(videos), frames)
    row_times = np.tile(np.arange(frames, dtype=np.float64), videos)
    hits = group_by_video(scores[0], rows[0], row_video, row_times)
    assert hits.video_ids[0] == target
    assert hits.best_t_sec[0] == 7.0
    merged = merge_rankings(holistic_rank, hits.video_ids.tolist(), depth=depth)
    assert target in merged
