"""Exact rerank: re-score first-stage candidates with their stored vectors.

Stage 1 takes `rerank_depth` candidates from the active ANN index, which may be compressed (IVF-PQ,
SQ8, …) and so returns approximate scores in a possibly wrong order. Stage 2 fetches the stored fp16 or
fp32 vectors of exactly those candidates (one bulk read) and recomputes `cos(q, x) = q·x`:
the order among the candidates becomes exact, which recovers what the compression lost as long as
the true neighbours are within the first `depth`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from clipsearch.errors import InvalidRequest

#: Bulk read of stored vectors: ids → (ids found, their vectors (n, d)); missing ids are left out.
VectorFetch = Callable[[Sequence[int]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, slots=True)
class Rescored:
    """Exact scores for the candidates that have stored vectors, in the order they were given."""

    ids: np.ndarray  # (m,) int64, a subsequence of the candidate ids
    scores: np.ndarray  # (m,) float32
    missing: tuple[int, ...]  # candidate ids without a stored vector


def exact_scores(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """`q·x` for every row (vectors are L2-normalised, so this is the cosine), float32."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if vectors.ndim != 2 or vectors.shape[1] != q.shape[0]:
        raise InvalidRequest(f"query has dimension {q.shape[0]}, stored vectors have shape {vectors.shape}")
    return vectors.astype(np.float32, copy=False) @ q


def rescore(query: np.ndarray, candidate_ids: Sequence[int], fetch: VectorFetch) -> Rescored:
    """Re-score candidates with their stored vectors (one bulk fetch, one matmul)."""
    wanted = [int(i) for i in candidate_ids]
    if not wanted:
        return Rescored(np.zeros(0, np.int64), np.zeros(0, np.float32), ())
    found_ids, vectors = fetch(wanted)
    found_ids = np.asarray(found_ids, dtype=np.int64)
    if found_ids.shape[0] != vectors.shape[0]:
        raise InvalidRequest(f"vector fetch returned {found_ids.shape[0]} ids for {vectors.shape[0]} vectors")
    scores = exact_scores(query, vectors) if found_ids.size else np.zeros(0, np.float32)
    # Keep the caller's order so that ties and the missing list are deterministic.
    by_id = dict(zip(found_ids.tolist(), scores.tolist(), strict=True))
    present = [i for i in wanted if i in by_id]
    missing = tuple(i for i in wanted if i not in by_id)
    return Rescored(
        ids=np.asarray(present, dtype=np.int64),
        scores=np.asarray([by_id[i] for i in present], dtype=np.float32),
        missing=missing,
    )


def array_fetch(ids_to_rows: Callable[[np.ndarray], np.ndarray], store: np.ndarray) -> VectorFetch:
    """A `VectorFetch` over an in-memory matrix (rows found by `ids_to_rows`, -1 = missing)."""

    def fetch(ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        wanted = np.asarray(ids, dtype=np.int64)
        rows = ids_to_rows(wanted)
        ok = rows >= 0
        return wanted[ok], store[rows[ok]]

    return fetch
