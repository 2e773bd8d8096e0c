"""Cross-space rerank: re-score candidates in a second, stronger embedding space.

The query is encoded in the rerank space too; each candidate uses its stored vector in that space, or,
when the space holds none for it, is re-encoded from its source media on the fly. Re-encoding is
bounded (at most `max_reencode` items and `max_seconds` per query) and cached in an LRU keyed by
(space fingerprint, item id, content hash), so a changed file or a changed model never hits a stale
vector.

Cosines of two spaces are not comparable (DESIGN §4): the stage-1 ranking and the rerank-space ranking
are fused by reciprocal rank (RRF). A candidate the rerank space could not score keeps only its stage-1
term, so it sinks below candidates that both spaces agree on, but is never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.rerank.exact import VectorFetch, exact_scores
from clipsearch.searcher.rerank.fusion import RRF_K, rrf

log = logging.getLogger(__name__)

CacheKey = tuple[str, int, str]
#: Re-encode items from their source media in the rerank space: ids → {id: vector}; failures left out.
Reencode = Callable[[Sequence[int]], dict[int, np.ndarray]]
#: Content hash of an item's source (changes when the file changes); "" when unknown (then not cached).
ContentHash = Callable[[int], str]


class EmbeddingCache:
    """Thread-safe LRU of re-encoded vectors; shared by all queries of a server."""

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 0:
            raise InvalidRequest(f"cache size must be ≥ 0 (got {max_entries})")
        self._max = max_entries
        self._data: OrderedDict[CacheKey, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: CacheKey) -> np.ndarray | None:
        with self._lock:
            vector = self._data.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: CacheKey, vector: np.ndarray) -> None:
        if self._max == 0:
            return
        frozen = np.array(vector, dtype=np.float32, copy=True)
        frozen.setflags(write=False)
        with self._lock:
            self._data[key] = frozen
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)


@dataclass(frozen=True, slots=True)
class ReencodeBudget:
    """Per-query bounds on on-the-fly re-encoding."""

    max_items: int = 32
    max_seconds: float = 2.0
    batch: int = 8


@dataclass(frozen=True, slots=True)
class SpaceVectors:
    """Vectors of candidates in the rerank space, and how they were obtained."""

    ids: np.ndarray  # (m,) int64
    vectors: np.ndarray  # (m, d) float32
    stored: int  # from the vector store
    cached: int  # from the re-encode cache
    reencoded: int  # re-encoded during this query
    missing: tuple[int, ...]  # not scored (over budget or failed)


def gather_vectors(
    candidate_ids: Sequence[int],
    *,
    fetch_stored: VectorFetch,
    fingerprint: str,
    cache: EmbeddingCache,
    content_hash: ContentHash | None = None,
    reencode: Reencode | None = None,
    budget: ReencodeBudget = ReencodeBudget(),
    clock: Callable[[], float] = time.monotonic,
) -> SpaceVectors:
    """Stored vectors first, then the cache, then bounded re-encoding; in candidate order."""
    wanted = [int(i) for i in candidate_ids]
    found: dict[int, np.ndarray] = {}
    if wanted:
        ids, vectors = fetch_stored(wanted)
        for item_id, vector in zip(np.asarray(ids).tolist(), vectors, strict=True):
            found[int(item_id)] = np.asarray(vector, dtype=np.float32)
    stored = len(found)
    keys: dict[int, CacheKey] = {}
    cached = 0
    for item_id in wanted:
        if item_id in found or content_hash is None:
            continue
        digest = content_hash(item_id)
        if not digest:
            continue
        keys[item_id] = (fingerprint, item_id, digest)
        hit = cache.get(keys[item_id])
        if hit is not None:
            found[item_id] = hit
            cached += 1
    reencoded = 0
    todo = [i for i in wanted if i not in found]
    if reencode is not None and todo:
        todo = todo[: budget.max_items]
        deadline = clock() + budget.max_seconds
        for start in range(0, len(todo), budget.batch):
            if clock() >= deadline:
                log.info("cross-space re-encode stopped at its time budget (%.2fs)", budget.max_seconds)
                break
            for item_id, vector in reencode(todo[start : start + budget.batch]).items():
                found[int(item_id)] = np.asarray(vector, dtype=np.float32).reshape(-1)
                reencoded += 1
                if int(item_id) in keys:
                    cache.put(keys[int(item_id)], found[int(item_id)])
    present = [i for i in wanted if i in found]
    dim = next(iter(found.values())).shape[0] if found else 0
    return SpaceVectors(
        ids=np.asarray(present, dtype=np.int64),
        vectors=np.stack([found[i] for i in present]) if present else np.zeros((0, dim), np.float32),
        stored=stored,
        cached=cached,
        reencoded=reencoded,
        missing=tuple(i for i in wanted if i not in found),
    )


@dataclass(frozen=True, slots=True)
class CrossSpaceScore:
    item_id: int
    fused: float  # RRF of the stage-1 rank and the rerank-space rank
    rerank: float | None  # cosine in the rerank space (None when it could not be scored)


def fuse_cross_space(
    query: np.ndarray, stage1_ids: Sequence[int], space: SpaceVectors, k: int = RRF_K
) -> list[CrossSpaceScore]:
    """RRF of the stage-1 order and the rerank-space order; best first."""
    cosines = exact_scores(query, space.vectors) if space.ids.size else np.zeros(0, np.float32)
    by_id = dict(zip(space.ids.tolist(), cosines.tolist(), strict=True))
    second = [item for item, _ in sorted(by_id.items(), key=lambda kv: -kv[1])]
    fused = rrf([[int(i) for i in stage1_ids], second], k=k)
    return [CrossSpaceScore(item_id=item, fused=score, rerank=by_id.get(item)) for item, score in fused]
