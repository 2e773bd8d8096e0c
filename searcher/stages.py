"""Pipeline stages between first-stage candidates and hydration: `candidates → rerank → frames → fuse`.

A stage gets the query context and the candidate list and returns a new list (re-scored, re-ordered
within each media type). Stages are listed in `SearchEngine(stages=...)`; the reranking work plugs in
here without touching the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from clipsearch.searcher.types import Candidate, FrameScore, MediaType, SearchQuery, VideoMoment

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.config import Settings
    from clipsearch.searcher.catalog import Catalog
    from clipsearch.searcher.encoders import EncoderPool
    from clipsearch.searcher.indexes import IndexSnapshot


@dataclass(frozen=True, slots=True)
class StageContext:
    """Everything a stage may read; one per query."""

    query: SearchQuery
    collection: str
    space: str
    vector: np.ndarray
    snapshot: IndexSnapshot
    catalog: Catalog
    encoders: EncoderPool
    settings: Settings


class Stage(Protocol):
    name: str

    def __call__(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]: ...


def resort(candidates: list[Candidate]) -> list[Candidate]:
    """Order by score within each media type, keeping the media types' first-seen order."""
    return sorted(candidates, key=lambda c: -c.score)


class FrameDetailsStage:
    """Per-frame details for video candidates from their stored frame vectors.

    Finds the best frame (`t_sec`), the segment of neighbouring frames within `delta` of the best and the
    top frames. With frame scoring enabled it also fuses `S = α·S_initial + (1−α)·S_frame` (CLIPRerank).
    """

    name = "frames"

    def __call__(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]:
        import numpy as np

        videos = [c.item_id for c in candidates if c.media_type == "video"]
        if not videos:
            return candidates
        defaults = ctx.settings.search
        options = ctx.query.frame_scoring
        enabled = defaults.frame_scoring if options.enabled is None else options.enabled
        alpha = defaults.frame_alpha if options.alpha is None else options.alpha
        delta = defaults.frame_delta if options.delta is None else options.delta
        top_n = defaults.top_frames if options.top_frames is None else options.top_frames
        frames = ctx.catalog.frame_vectors(ctx.snapshot, ctx.collection, ctx.space, videos)
        out: list[Candidate] = []
        for candidate in candidates:
            stored = frames.get(candidate.item_id) if candidate.media_type == "video" else None
            if stored is None or len(stored.times) == 0:
                out.append(candidate)
                continue
            scores = stored.vectors.astype(np.float32, copy=False) @ ctx.vector
            moment = video_moment(stored.times, scores, delta, top_n)
            frame_score = float(scores.max())
            fused = alpha * candidate.initial + (1 - alpha) * frame_score if enabled else candidate.score
            out.append(replace(candidate, frame=frame_score, moment=moment, score=fused))
        return resort(out) if enabled else out


def video_moment(times: np.ndarray, scores: np.ndarray, delta: float, top_n: int) -> VideoMoment:
    """Best frame, the contiguous run of frames within `delta` of it, and the `top_n` best frames."""
    import numpy as np

    order = np.argsort(times, kind="stable")
    times, scores = times[order], scores[order]
    best = int(np.argmax(scores))
    floor = scores[best] - delta
    start = best
    while start > 0 and scores[start - 1] >= floor:
        start -= 1
    end = best
    while end + 1 < len(scores) and scores[end + 1] >= floor:
        end += 1
    ranked = np.argsort(-scores, kind="stable")[:top_n]
    return VideoMoment(
        t_sec=float(times[best]),
        segment_start_sec=float(times[start]),
        segment_end_sec=float(times[end]),
        top_frames=tuple(FrameScore(float(times[i]), float(scores[i])) for i in ranked),
    )


def fuse_media_lists(candidates: Sequence[Candidate], rrf_k: int) -> list[Candidate]:
    """Merge per-media-type ranked lists by reciprocal rank (RRF): raw cosines of different
    modalities are not comparable (modality gap, DESIGN §4). One list passes through unchanged."""
    by_type: dict[MediaType, list[Candidate]] = {}
    for candidate in candidates:
        by_type.setdefault(candidate.media_type, []).append(candidate)
    if len(by_type) <= 1:
        return list(candidates)
    fused: list[Candidate] = []
    for items in by_type.values():
        ranked = sorted(items, key=lambda c: -c.score)
        fused.extend(replace(c, score=1.0 / (rrf_k + rank + 1)) for rank, c in enumerate(ranked))
    # Ties (same rank in different lists) break by the original score within its own list order.
    return sorted(fused, key=lambda c: -c.score)
