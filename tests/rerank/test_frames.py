"""CLIPRerank frame scoring: S_frame, fused score, best frame, segment, top frames — hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.rerank.frames import FrameBatch, fuse_frame_scores, score_frames


def frames_with_scores(scores: list[float]) -> np.ndarray:
    """Unit vectors in 2-D whose cosine with the query (1, 0) is exactly `scores`."""
    s = np.asarray(scores, dtype=np.float64)
    return np.stack([s, np.sqrt(1 - s**2)], axis=1).astype(np.float32)


QUERY = np.array([1.0, 0.0], dtype=np.float32)


def test_best_frame_segment_and_top_frames() -> None:
    scores = [0.10, 0.50, 0.79, 0.80, 0.785, 0.30, 0.795]
    times = np.arange(7, dtype=np.float64) * 0.5
    batch = FrameBatch.stack([(times, frames_with_scores(scores))])
    (match,) = score_frames(QUERY, batch, delta=0.02, top_n=3)
    assert match.score == pytest.approx(0.80, abs=1e-6)
    assert match.best_index == 3
    assert match.moment.t_sec == 1.5
    # Frames 2..4 are within 0.02 of the best and contiguous; frame 6 is within δ but not contiguous.
    assert match.segment == (2, 4)
    assert (match.moment.segment_start_sec, match.moment.segment_end_sec) == (1.0, 2.0)
    assert [f.t_sec for f in match.moment.top_frames] == [1.5, 3.0, 1.0]
    assert [f.score for f in match.moment.top_frames] == pytest.approx([0.80, 0.795, 0.79], abs=1e-6)


def test_many_videos_in_one_batch_are_scored_independently() -> None:
    videos = [
        (np.array([0.0, 1.0, 2.0]), frames_with_scores([0.9, 0.1, 0.2])),
        (np.array([0.0]), frames_with_scores([0.4])),
        # Given out of time order: stacking sorts by time.
        (np.array([4.0, 2.0, 3.0, 1.0]), frames_with_scores([0.7, 0.1, 0.69, 0.2])),
    ]
    batch = FrameBatch.stack(videos)
    assert batch.videos == 3
    first, second, third = score_frames(QUERY, batch, delta=0.05, top_n=2)
    assert (first.score, first.moment.t_sec, first.segment) == (pytest.approx(0.9), 0.0, (0, 0))
    assert (second.score, second.moment.t_sec, second.segment) == (pytest.approx(0.4), 0.0, (0, 0))
    assert len(second.moment.top_frames) == 1
    assert third.score == pytest.approx(0.7)
    assert third.moment.t_sec == 4.0
    assert (third.moment.segment_start_sec, third.moment.segment_end_sec) == (3.0, 4.0)
    assert [f.t_sec for f in third.moment.top_frames] == [4.0, 3.0]


def test_ties_pick_the_earliest_frame_and_zero_delta_segment_is_the_best_frame() -> None:
    batch = FrameBatch.stack([(np.arange(4.0), frames_with_scores([0.3, 0.6, 0.2, 0.6]))])
    (match,) = score_frames(QUERY, batch, delta=0.0, top_n=0)
    assert match.best_index == 1
    assert match.segment == (1, 1)
    assert match.moment.top_frames == ()


def test_vectorised_scores_equal_a_plain_loop() -> None:
    rng = np.random.default_rng(7)
    videos = []
    for n in rng.integers(1, 30, size=40):
        v = rng.standard_normal((int(n), 16)).astype(np.float32)
        videos.append((np.sort(rng.uniform(0, 60, int(n))), v / np.linalg.norm(v, axis=1, keepdims=True)))
    q = rng.standard_normal(16).astype(np.float32)
    q /= np.linalg.norm(q)
    matches = score_frames(q, FrameBatch.stack(videos), delta=0.05, top_n=4)
    for (times, vectors), match in zip(videos, matches, strict=True):
        s = vectors @ q
        best = int(np.argmax(s))
        start, end = best, best
        while start > 0 and s[start - 1] >= s[best] - 0.05:
            start -= 1
        while end + 1 < len(s) and s[end + 1] >= s[best] - 0.05:
            end += 1
        assert match.score == pytest.approx(float(s[best]), abs=1e-6)
        assert match.best_index == best
        assert match.segment == (start, end)
        expected_top = np.argsort(-s, kind="stable")[:4]
        assert [f.t_sec for f in match.moment.top_frames] == [float(times[i]) for i in expected_top]


def test_fp16_frames_are_scored_in_float32() -> None:
    batch = FrameBatch.stack([(np.arange(3.0), frames_with_scores([0.1, 0.95, 0.2]).astype(np.float16))])
    (match,) = score_frames(QUERY, batch, delta=0.0, top_n=1)
    assert match.score == pytest.approx(0.95, abs=1e-3)


def test_fusion_formula() -> None:
    initial = np.array([0.30, 0.25])
    frame = np.array([0.35, 0.60])
    fused = fuse_frame_scores(initial, frame, alpha=0.4)
    np.testing.assert_allclose(fused, [0.4 * 0.30 + 0.6 * 0.35, 0.4 * 0.25 + 0.6 * 0.60])
    np.testing.assert_allclose(fuse_frame_scores(initial, frame, alpha=1.0), initial)
    np.testing.assert_allclose(fuse_frame_scores(initial, frame, alpha=0.0), frame)
    np.testing.assert_allclose(
        fuse_frame_scores(initial, frame, alpha=0.5, normalization="minmax"), [0.5, 0.5]
    )


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InvalidRequest):
        FrameBatch.stack([(np.arange(2.0), frames_with_scores([0.1]))])
    with pytest.raises(InvalidRequest):
        FrameBatch.stack([(np.zeros(0), np.zeros((0, 2), np.float32))])
    batch = FrameBatch.stack([(np.arange(2.0), frames_with_scores([0.1, 0.2]))])
    with pytest.raises(InvalidRequest):
        score_frames(np.ones(3, np.float32), batch, delta=0.0, top_n=1)
    with pytest.raises(InvalidRequest):
        score_frames(QUERY, batch, delta=-0.1, top_n=1)
