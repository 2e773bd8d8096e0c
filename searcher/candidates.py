"""First-stage candidates: the best `depth` items of each wanted media type from a loaded index.

Batches first: the queries of a batch that read the same index with the same fetch size share one
`index.search` call (one matrix of query vectors; the per-call Python and faiss set-up cost is paid
once). A query whose page cannot be filled from that fetch (a selective filter, a rare media type, a
`min_score` floor) then grows its own fetch ×4 until it is full or the whole index was seen, so a
filtered query never misses an allowed item that an unfiltered one would rank as high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clipsearch.searcher.catalog import MEDIA_CODES
from clipsearch.searcher.types import MEDIA_TYPES, Candidate, MediaType

if TYPE_CHECKING:
    from clipsearch.searcher.catalog import LoadedIndex


@dataclass(frozen=True, slots=True)
class CandidateRequest:
    """What one query wants from one index."""

    index: LoadedIndex
    vector: np.ndarray
    depth: int
    media_types: tuple[MediaType, ...]
    #: item ids a metadata filter allows (None = no filter).
    allowed: np.ndarray | None = None
    #: an item never to return (the query item of "more like this").
    exclude: int | None = None
    min_score: float | None = None


@dataclass(slots=True)
class _Plan:
    request: CandidateRequest
    #: rows of the index the query may return.
    wanted: np.ndarray
    #: candidates per media type that make the list complete (fewer when a type has fewer items).
    enough: dict[MediaType, int]
    k: int


def fetch_candidates(requests: Sequence[CandidateRequest]) -> list[list[Candidate]]:
    """Candidates for every request, in request order."""
    out: list[list[Candidate]] = [[] for _ in requests]
    groups: dict[tuple[int, int], list[tuple[int, _Plan]]] = {}
    for position, request in enumerate(requests):
        plan = _plan(request)
        if plan is not None:
            groups.setdefault((id(request.index), plan.k), []).append((position, plan))
    for members in groups.values():
        index, k = members[0][1].request.index, members[0][1].k
        matrix = np.stack([plan.request.vector for _, plan in members])
        scores, rows = index.search(matrix, k)
        for row, (position, plan) in enumerate(members):
            out[position] = _complete(plan, scores[row], rows[row])
    return out


def _plan(request: CandidateRequest) -> _Plan | None:
    index, depth, media_types = request.index, request.depth, request.media_types
    total = index.size
    if total == 0 or not media_types or depth <= 0:
        return None
    wanted = index.media_mask(media_types)  # cached and read-only: combine into new arrays
    if request.allowed is None and request.exclude is None:
        available = sum(index.media_counts[m] for m in media_types)
        # A media type with fewer items than `depth` is complete once all of them are found;
        # without this a rare type (one video among 100k images) would grow k to the whole index.
        enough = {m: min(depth, index.media_counts[m]) for m in media_types}
    else:
        if request.allowed is not None:
            wanted = wanted & np.isin(index.item_ids, request.allowed)
        if request.exclude is not None:
            wanted = wanted & (index.item_ids != request.exclude)
        available = int(wanted.sum())
        enough = {m: min(depth, int((wanted & (index.media == MEDIA_CODES[m])).sum())) for m in media_types}
    if available == 0:
        return None
    # Start with enough rows to expect `depth` per type at this selectivity, then grow.
    wide = depth * len(media_types)
    k = min(total, max(wide, int(wide * total / available)))
    return _Plan(request, wanted, enough, k)


def _complete(plan: _Plan, scores: np.ndarray, rows: np.ndarray) -> list[Candidate]:
    request = plan.request
    total = request.index.size
    while True:
        picked, short = _pick(plan, scores, rows)
        floor_hit = request.min_score is not None and (
            len(scores) == 0 or float(scores[-1]) < request.min_score
        )
        if not short or plan.k >= total or floor_hit:
            return picked
        plan.k = min(total, plan.k * 4)
        found_scores, found_rows = request.index.search(request.vector.reshape(1, -1), plan.k)
        scores, rows = found_scores[0], found_rows[0]


def _pick(plan: _Plan, scores: np.ndarray, rows: np.ndarray) -> tuple[list[Candidate], bool]:
    """(the candidates in this fetch, whether some media type is still short of `enough`)."""
    request, index = plan.request, plan.request.index
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    keep = valid & plan.wanted[safe]
    kept = safe[keep]
    kept_scores = scores[keep].tolist()
    items = index.item_ids[kept].tolist()
    media = index.media[kept].tolist()
    per_type: dict[MediaType, list[Candidate]] = {m: [] for m in request.media_types}
    floor, depth = request.min_score, request.depth
    for score, item_id, code in zip(kept_scores, items, media, strict=True):
        if floor is not None and score < floor:
            break  # results are in descending order
        kind = MEDIA_TYPES[code]
        bucket = per_type[kind]
        if len(bucket) < depth:
            bucket.append(Candidate(item_id, kind, score, score))
    short = any(len(per_type[m]) < plan.enough[m] for m in request.media_types)
    return [c for bucket in per_type.values() for c in bucket], short
