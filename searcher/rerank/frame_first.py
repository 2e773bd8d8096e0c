"""Frame-first retrieval: search the frame index directly and max-pool the hits per video.

A video's holistic vector is the mean of its frames; when the query matches only a short moment,
that mean can miss the query entirely and the video never enters the holistic candidate list. Searching
the frame index finds the moment itself; grouping the frame hits by video (max-pool over the video's
retrieved frames) turns them into a video ranking, which is then merged with the holistic ranking by
reciprocal-rank fusion (both lists are in the same space, but the fused list is a rank union: the
scores that finally rank videos come from frame scoring, which rescores every candidate exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clipsearch.searcher.rerank.fusion import RRF_K, rrf


@dataclass(frozen=True, slots=True)
class VideoHits:
    """Videos found through their frames, best first."""

    video_ids: np.ndarray  # (m,) int64
    scores: np.ndarray  # (m,) float32: max over the video's retrieved frames
    best_t_sec: np.ndarray  # (m,) float64: time of that frame (nan when unknown)


def group_by_video(
    scores: np.ndarray,
    rows: np.ndarray,
    row_video: np.ndarray,
    row_times: np.ndarray | None = None,
    *,
    allowed: np.ndarray | None = None,
) -> VideoHits:
    """Max-pool one query's frame hits (`scores`, `rows` from a faiss search, -1 = none) by video.

    `row_video[r]` is the video owning frame row r; `allowed` (optional, sorted or not) keeps only those
    video ids (media/metadata filters).
    """
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    keep = rows >= 0
    scores, rows = scores[keep], rows[keep]
    videos = np.asarray(row_video, dtype=np.int64)[rows]
    if allowed is not None:
        ok = np.isin(videos, allowed)
        scores, rows, videos = scores[ok], rows[ok], videos[ok]
    if videos.size == 0:
        return VideoHits(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float64))
    # Sort by (video, −score): the first row of each video group is its best frame.
    order = np.lexsort((-scores, videos))
    videos_sorted = videos[order]
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = videos_sorted[1:] != videos_sorted[:-1]
    best = order[first]
    ranking = np.argsort(-scores[best], kind="stable")
    best = best[ranking]
    times = (
        np.asarray(row_times, dtype=np.float64)[rows[best]]
        if row_times is not None
        else np.full(best.shape[0], np.nan)
    )
    return VideoHits(video_ids=videos[best], scores=scores[best], best_t_sec=times)


def merge_rankings(
    holistic_ids: Sequence[int], frame_video_ids: Sequence[int], *, depth: int, k: int = RRF_K
) -> list[int]:
    """The union of the holistic and frame-first video rankings, ordered by RRF, cut at `depth`."""
    fused = rrf([list(map(int, holistic_ids)), list(map(int, frame_video_ids))], k=k)
    return [video for video, _ in fused[:depth]]
