"""Pipeline stages between first-stage candidates and hydration: `candidates → rerank → frames → fuse`.

A stage gets the query context and the candidate list and returns a new list (re-scored, re-ordered
within each media type). Stages are listed in `SearchEngine(stages=...)`; the reranking work plugs in
here without touching the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from clipsearch.searcher.types import Candidate, MediaType, SearchQuery

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
