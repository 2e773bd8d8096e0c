"""Reranking and frame scoring as pipeline stages of `clipsearch.searcher.engine.SearchEngine`.

Order: `frame_first → rerank → frames`.

- `FrameFirstStage` adds videos found through the frame index (max-pooled per video, merged by RRF).
- `RerankStage` re-scores the stage-1 candidates: exactly with stored vectors in the answering space,
  or in a second space (`rerank.space` / the collection's `rerank_space`) fused by RRF.
- `FrameScoringStage` scores every video candidate's frames (CLIPRerank) and returns the moment.

Each stage resolves its options from the request, falling back to `[search]` settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipsearch.errors import ClipsearchError, InvalidRequest
from clipsearch.searcher.rerank.cross_space import (
    EmbeddingCache,
    ReencodeBudget,
    fuse_cross_space,
    gather_vectors,
)
from clipsearch.searcher.rerank.exact import rescore
from clipsearch.searcher.rerank.frame_first import group_by_video, merge_rankings
from clipsearch.searcher.rerank.frames import FrameBatch, fuse_frame_scores, score_frames
from clipsearch.searcher.rerank.fusion import Normalization
from clipsearch.searcher.rerank.stored import StoredItemVectors
from clipsearch.searcher.types import Candidate, MediaType

if TYPE_CHECKING:
    from clipsearch.searcher.stages import Stage, StageContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RerankPlan:
    enabled: bool
    depth: int
    #: space the candidates are re-scored in (the answering space = exact rerank).
    space: str

    def cross_space(self, answering: str) -> bool:
        return self.enabled and self.space != answering


@dataclass(frozen=True, slots=True)
class FramePlan:
    enabled: bool
    alpha: float
    delta: float
    top_n: int
    normalization: Normalization


def rerank_plan(ctx: StageContext) -> RerankPlan:
    defaults, options = ctx.settings.search, ctx.query.rerank
    enabled = defaults.rerank if options.enabled is None else options.enabled
    depth = options.depth or defaults.rerank_depth
    if not 1 <= depth <= 10_000:
        raise InvalidRequest(f"rerank depth must be between 1 and 10000 (got {depth})")
    space = options.space or ctx.settings.collection(ctx.collection).rerank_space or ctx.space
    if space not in ctx.settings.spaces:
        raise InvalidRequest(
            f"rerank space '{space}' is not configured (spaces: {', '.join(sorted(ctx.settings.spaces))})"
        )
    return RerankPlan(enabled, depth, space)


def frame_plan(ctx: StageContext) -> FramePlan:
    defaults, options = ctx.settings.search, ctx.query.frame_scoring
    plan = FramePlan(
        enabled=defaults.frame_scoring if options.enabled is None else options.enabled,
        alpha=defaults.frame_alpha if options.alpha is None else float(options.alpha),
        delta=defaults.frame_delta if options.delta is None else float(options.delta),
        top_n=defaults.top_frames if options.top_frames is None else int(options.top_frames),
        normalization=defaults.frame_normalization,
    )
    if not (0.0 <= plan.alpha <= 1.0 and np.isfinite(plan.alpha)):
        raise InvalidRequest(f"frame_scoring.alpha must be in [0, 1] (got {plan.alpha})")
    if not (plan.delta >= 0 and np.isfinite(plan.delta)):
        raise InvalidRequest(f"frame_scoring.delta must be ≥ 0 (got {plan.delta})")
    if not 0 <= plan.top_n <= 100:
        raise InvalidRequest(f"frame_scoring.top_frames must be between 0 and 100 (got {plan.top_n})")
    return plan


def _resort(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: -c.score)


class _SharedVectors:
    """One `StoredItemVectors` per engine, created from the first query's settings when not given."""

    def __init__(self, data_dir: Path | None) -> None:
        self._vectors = StoredItemVectors(data_dir) if data_dir is not None else None

    def get(self, ctx: StageContext) -> StoredItemVectors:
        if self._vectors is None:
            self._vectors = StoredItemVectors(ctx.settings.data_dir)
        return self._vectors


class FrameFirstStage:
    """Search the frame index too; videos it finds (max-pool per video) join the candidates by RRF."""

    name = "frame_first"

    def __init__(self, vectors: _SharedVectors) -> None:
        self._vectors = vectors

    def __call__(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]:
        wanted_media = ctx.query.media_types or ("video",)
        if not ctx.settings.search.frame_first or "video" not in wanted_media:
            return candidates
        if not frame_plan(ctx).enabled:
            return candidates
        frame_index = ctx.snapshot.get(ctx.collection, ctx.space, "frame")
        if frame_index is None or frame_index.size == 0:
            return candidates
        depth = rerank_plan(ctx).depth
        holistic = [c.item_id for c in candidates if c.media_type == "video"]
        if not holistic and not ctx.query.media_types:
            # The collection's media were resolved by the engine; no video candidates = no videos wanted.
            return candidates
        k = min(frame_index.size, 4 * depth)
        scores, positions = frame_index.search(ctx.vector.reshape(1, -1), k)
        allowed = (
            ctx.catalog.filter_ids(ctx.collection, ctx.query.filter) if ctx.query.filter.strip() else None
        )
        hits = group_by_video(scores[0], positions[0], frame_index.item_ids, allowed=allowed)
        excluded = self._excluded(ctx)
        found = [int(v) for v in hits.video_ids.tolist() if int(v) != excluded]
        merged = merge_rankings(holistic, found, depth=max(depth, len(holistic)), k=ctx.settings.search.rrf_k)
        known = set(holistic)
        new = [v for v in merged if v not in known]
        if not new:
            return candidates
        fetch = self._vectors.get(ctx).fetch(ctx.snapshot, ctx.catalog, ctx.collection, ctx.space)
        exact = rescore(ctx.vector, new, fetch)
        added = [
            Candidate(int(i), "video", float(s), float(s))
            for i, s in zip(exact.ids.tolist(), exact.scores.tolist(), strict=True)
        ]
        if ctx.query.min_score is not None:
            added = [c for c in added if c.score >= ctx.query.min_score]
        log.debug("frame-first added %d videos (%d without stored vectors)", len(added), len(exact.missing))
        return candidates + added

    @staticmethod
    def _excluded(ctx: StageContext) -> int | None:
        if ctx.query.item_id is None:
            return None
        return ctx.catalog.find_item(ctx.collection, ctx.query.item_id).item_id


class RerankStage:
    """Stage 2: exact re-score with stored vectors, or cross-space re-score fused by RRF."""

    name = "rerank"

    def __init__(
        self,
        vectors: _SharedVectors,
        cache: EmbeddingCache | None = None,
        budget: ReencodeBudget = ReencodeBudget(),
    ) -> None:
        self._vectors = vectors
        self.cache = cache if cache is not None else EmbeddingCache()
        self.budget = budget

    def __call__(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]:
        plan = rerank_plan(ctx)
        if not plan.enabled or not candidates:
            return candidates
        if plan.cross_space(ctx.space):
            query2 = self._query_in(ctx, plan.space)
            if query2 is not None:
                return self._cross_space(ctx, plan.space, query2, candidates)
            log.info("query cannot be expressed in space %s; exact rerank instead", plan.space)
        return self._exact(ctx, candidates)

    def _exact(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]:
        fetch = self._vectors.get(ctx).fetch(ctx.snapshot, ctx.catalog, ctx.collection, ctx.space)
        result = rescore(ctx.vector, [c.item_id for c in candidates], fetch)
        exact = dict(zip(result.ids.tolist(), result.scores.tolist(), strict=True))
        # Candidates without a stored vector keep their stage-1 score: same space, same quantity.
        out = [
            replace(c, rerank=exact[c.item_id], score=exact[c.item_id]) if c.item_id in exact else c
            for c in candidates
        ]
        return _resort(out)

    def _cross_space(
        self, ctx: StageContext, space: str, query2: np.ndarray, candidates: list[Candidate]
    ) -> list[Candidate]:
        fetch = self._vectors.get(ctx).fetch(ctx.snapshot, ctx.catalog, ctx.collection, space)
        reencoder = _SourceReencoder(ctx, space)
        vectors = gather_vectors(
            [c.item_id for c in candidates],
            fetch_stored=fetch,
            fingerprint=reencoder.fingerprint(),
            cache=self.cache,
            content_hash=reencoder.content_hash,
            reencode=reencoder,
            budget=self.budget,
        )
        by_media: dict[MediaType, list[Candidate]] = {}
        for c in candidates:
            by_media.setdefault(c.media_type, []).append(c)
        out: list[Candidate] = []
        for group in by_media.values():
            ordered = sorted(group, key=lambda c: -c.score)
            lookup = {c.item_id: c for c in ordered}
            keep = np.isin(vectors.ids, list(lookup))
            subset = replace(vectors, ids=vectors.ids[keep], vectors=vectors.vectors[keep])
            for s in fuse_cross_space(
                query2, [c.item_id for c in ordered], subset, ctx.settings.search.rrf_k
            ):
                out.append(replace(lookup[s.item_id], score=s.fused, rerank=s.rerank))
        return _resort(out)

    def _query_in(self, ctx: StageContext, space: str) -> np.ndarray | None:
        query = ctx.query
        if query.text is not None:
            return np.asarray(ctx.encoders.get(space).encode_texts([query.text])[0], dtype=np.float32)
        if query.image is not None:
            from clipsearch.indexer.decode.images import decode_image

            image = decode_image(query.image, ctx.settings.limits.max_image_pixels)
            return np.asarray(ctx.encoders.get(space).encode_images([image])[0], dtype=np.float32)
        if query.item_id is not None:
            item = ctx.catalog.find_item(ctx.collection, query.item_id).item_id
            ids, found = self._vectors.get(ctx).fetch(ctx.snapshot, ctx.catalog, ctx.collection, space)(
                [item]
            )
            return np.asarray(found[0], dtype=np.float32) if len(ids) else None
        return None  # raw vectors and video clips live in the answering space only


class _SourceReencoder:
    """Re-encode items from their source media in the rerank space (text, images; videos: frame mean)."""

    def __init__(self, ctx: StageContext, space: str) -> None:
        self._ctx = ctx
        self._space = space
        self._items: dict[int, tuple[str, str, str]] = {}

    def fingerprint(self) -> str:
        """The rerank space's model fingerprint: from its active index, else from its (loaded) encoder."""
        index = self._ctx.snapshot.get(self._ctx.collection, self._space, "item")
        if index is not None and index.fingerprint:
            return index.fingerprint
        return self._ctx.encoders.get(self._space).info.fingerprint

    def _item(self, item_id: int) -> tuple[str, str, str] | None:
        if item_id not in self._items:
            found = self._ctx.catalog.items(self._ctx.collection, [item_id]).get(item_id)
            if found is None:
                return None
            self._items[item_id] = (found.uri, found.media_type, found.text)
        return self._items[item_id]

    def content_hash(self, item_id: int) -> str:
        item = self._item(item_id)
        if item is None:
            return ""
        uri, media, text = item
        if media == "text":
            import hashlib

            return hashlib.sha256(text.encode("utf-8")).hexdigest()
        try:
            stat = os.stat(uri)
        except OSError:
            return ""
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    def __call__(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        encoder = self._ctx.encoders.get(self._space)
        limits = self._ctx.settings.limits
        out: dict[int, np.ndarray] = {}
        for item_id in ids:
            item = self._item(int(item_id))
            if item is None:
                continue
            uri, media, text = item
            try:
                if media == "text":
                    out[int(item_id)] = encoder.encode_texts([text])[0]
                elif media == "image":
                    from clipsearch.indexer.decode.images import decode_image

                    out[int(item_id)] = encoder.encode_images(
                        [decode_image(Path(uri), limits.max_image_pixels)]
                    )[0]
                else:
                    from clipsearch.searcher.query_video import sample_query_video

                    frames = sample_query_video(Path(uri).read_bytes(), 8, limits.max_video_seconds)
                    mean = encoder.encode_frames(frames).mean(axis=0)
                    out[int(item_id)] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            except (ClipsearchError, OSError) as exc:
                log.info("cannot re-encode item %s (%s) in space %s: %s", item_id, uri, self._space, exc)
        return out


class FrameScoringStage:
    """CLIPRerank: S = α·S_initial + (1−α)·max_i cos(q, f_i) for videos, plus the matching moment."""

    name = "frames"

    def __call__(self, ctx: StageContext, candidates: list[Candidate]) -> list[Candidate]:
        videos = [c for c in candidates if c.media_type == "video"]
        if not videos:
            return candidates
        plan = frame_plan(ctx)
        stored = ctx.catalog.frame_vectors(
            ctx.snapshot, ctx.collection, ctx.space, [c.item_id for c in videos]
        )
        with_frames = [c for c in videos if c.item_id in stored and len(stored[c.item_id].times) > 0]
        if not with_frames:
            return candidates
        batch = FrameBatch.stack([(stored[c.item_id].times, stored[c.item_id].vectors) for c in with_frames])
        matches = {
            c.item_id: m
            for c, m in zip(
                with_frames, score_frames(ctx.vector, batch, delta=plan.delta, top_n=plan.top_n), strict=True
            )
        }
        if not plan.enabled:
            return [
                replace(c, frame=matches[c.item_id].score, moment=matches[c.item_id].moment)
                if c.item_id in matches
                else c
                for c in candidates
            ]
        # S_initial is what the previous stage ranked by. After a cross-space rerank that is an RRF score,
        # not a cosine of this space: then both lists are min-max normalised before fusing (DESIGN §4).
        normalization = plan.normalization
        if normalization == "none" and rerank_plan(ctx).cross_space(ctx.space):
            normalization = "minmax"
        initial = np.array([c.score for c in videos])
        # A video without stored frames counts its own initial score as its frame score (neutral).
        frame = np.array([matches[c.item_id].score if c.item_id in matches else c.score for c in videos])
        fused = fuse_frame_scores(initial, frame, plan.alpha, normalization)
        rescored = {
            c.item_id: replace(
                c,
                score=float(s),
                frame=matches[c.item_id].score if c.item_id in matches else None,
                moment=matches[c.item_id].moment if c.item_id in matches else None,
            )
            for c, s in zip(videos, fused.tolist(), strict=True)
        }
        return _resort([rescored.get(c.item_id, c) if c.media_type == "video" else c for c in candidates])


def default_stages(data_dir: Path | None = None, cache_entries: int = 4096) -> tuple[Stage, ...]:
    """The stage-2 pipeline the engine runs by default: frame-first, rerank, frame scoring."""
    vectors = _SharedVectors(data_dir)
    return (
        FrameFirstStage(vectors),
        RerankStage(vectors, EmbeddingCache(cache_entries)),
        FrameScoringStage(),
    )
