"""Fine-grained frame scoring for video candidates (CLIPRerank, arXiv 2401.08449).

For each video v with frames f_1..f_n (L2-normalised, time order):

    S_frame(q, v) = max_i cos(q, f_i)
    S(q, v)       = α·S_initial(q, v) + (1 − α)·S_frame(q, v)        (α = 0.4 by default)

plus where it matched: the best frame's `t_sec`, the segment (the contiguous run of frames around the
best whose score is ≥ S_frame − δ) and the top-N frames. All frames of all candidates are scored by one
matrix-vector product, and the per-video reductions are vectorised too (no Python loop per frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.rerank.fusion import Normalization, weighted_sum
from clipsearch.searcher.types import FrameScore, VideoMoment


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """The frames of several videos stacked: video j owns rows `offsets[j]:offsets[j+1]`, in time order."""

    vectors: np.ndarray  # (F, d) float16/float32
    times: np.ndarray  # (F,) float64 seconds
    offsets: np.ndarray  # (n + 1,) int64, offsets[0] = 0, offsets[-1] = F

    @property
    def videos(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @classmethod
    def stack(cls, videos: Sequence[tuple[np.ndarray, np.ndarray]]) -> FrameBatch:
        """Stack (times, vectors) per video; each video's frames are put in time order.

        Every video needs at least one frame (a video without frames has no frame score: leave it out).
        """
        if not videos:
            raise InvalidRequest("no videos to stack")
        lengths = np.zeros(len(videos) + 1, dtype=np.int64)
        dims = set()
        for j, (times, vectors) in enumerate(videos):
            if len(times) == 0 or len(times) != len(vectors):
                raise InvalidRequest(
                    f"video {j}: {len(times)} frame times for {len(vectors)} frame vectors (need ≥ 1, equal)"
                )
            dims.add(int(vectors.shape[1]))
            lengths[j + 1] = len(times)
        if len(dims) != 1:
            raise InvalidRequest(f"frame vectors of different dimensions: {sorted(dims)}")
        ordered = [np.argsort(np.asarray(times), kind="stable") for times, _ in videos]
        times_all = np.concatenate(
            [np.asarray(times, dtype=np.float64)[o] for (times, _), o in zip(videos, ordered, strict=True)]
        )
        vectors_all = np.concatenate([np.asarray(v)[o] for (_, v), o in zip(videos, ordered, strict=True)])
        return cls(vectors=vectors_all, times=times_all, offsets=np.cumsum(lengths))


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """One video's frame score and the moment it came from."""

    score: float  # S_frame
    best_index: int  # row of the best frame within this video (time order)
    segment: tuple[int, int]  # first and last row (inclusive) of the segment within this video
    moment: VideoMoment


def score_frames(query: np.ndarray, batch: FrameBatch, *, delta: float, top_n: int) -> list[FrameMatch]:
    """S_frame, best frame, segment and top-N frames of every video in the batch (one matmul)."""
    if delta < 0:
        raise InvalidRequest(f"frame delta must be ≥ 0 (got {delta})")
    if top_n < 0:
        raise InvalidRequest(f"top_frames must be ≥ 0 (got {top_n})")
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if q.shape[0] != batch.vectors.shape[1]:
        raise InvalidRequest(f"query has dimension {q.shape[0]}, frames have {batch.vectors.shape[1]}")
    # fp16 storage is up-cast once; the product itself runs in float32.
    sims = batch.vectors.astype(np.float32, copy=False) @ q
    starts = batch.offsets[:-1]
    lengths = np.diff(batch.offsets)
    owner = np.repeat(np.arange(batch.videos), lengths)
    index = np.arange(sims.shape[0])

    best_score = np.maximum.reduceat(sims, starts)
    # First frame reaching the maximum (ties go to the earliest frame).
    at_max = sims >= best_score[owner]
    best_row = np.minimum.reduceat(np.where(at_max, index, sims.shape[0]), starts)

    # Segment: label runs of frames within δ of their video's best; a frame outside the band, or the first
    # frame of a video, opens a new label, so the run containing the best frame = its label ∩ the band.
    within = sims >= best_score[owner] - np.float32(delta)
    opens = ~within
    opens[starts] = True
    label = np.cumsum(opens)
    in_segment = within & (label == label[best_row][owner])
    seg_first = np.minimum.reduceat(np.where(in_segment, index, sims.shape[0]), starts)
    seg_last = np.maximum.reduceat(np.where(in_segment, index, -1), starts)

    # Top-N: one sort by (video, −score, time); keep the first N rows of each video.
    order = np.lexsort((index, -sims, owner))
    rank_in_video = np.arange(order.shape[0]) - starts[owner[order]]
    top_rows = order[rank_in_video < top_n]

    times = batch.times
    tops: list[list[FrameScore]] = [[] for _ in range(batch.videos)]
    for row in top_rows.tolist():
        tops[int(owner[row])].append(FrameScore(t_sec=float(times[row]), score=float(sims[row])))
    matches = []
    for j in range(batch.videos):
        start = int(starts[j])
        best, first, last = int(best_row[j]), int(seg_first[j]), int(seg_last[j])
        matches.append(
            FrameMatch(
                score=float(best_score[j]),
                best_index=best - start,
                segment=(first - start, last - start),
                moment=VideoMoment(
                    t_sec=float(times[best]),
                    segment_start_sec=float(times[first]),
                    segment_end_sec=float(times[last]),
                    top_frames=tuple(tops[j]),
                ),
            )
        )
    return matches


def fuse_frame_scores(
    initial: np.ndarray, frame: np.ndarray, alpha: float, normalization: Normalization = "none"
) -> np.ndarray:
    """CLIPRerank fusion `S = α·S_initial + (1 − α)·S_frame`, optionally after per-list normalisation."""
    return weighted_sum(initial, frame, alpha, normalization)
