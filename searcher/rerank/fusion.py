"""Score fusion across lists that must not be compared raw (DESIGN §4).

Cosines from different spaces or modalities live on different scales (the modality gap), so lists are
fused by rank (RRF) or after per-list normalisation, never by their raw scores.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar

import numpy as np

from clipsearch.errors import InvalidRequest

Normalization = Literal["none", "minmax", "zscore"]
NORMALIZATIONS: tuple[Normalization, ...] = ("none", "minmax", "zscore")
RRF_K = 60

K = TypeVar("K", bound=Hashable)


def normalize(scores: np.ndarray, method: Normalization) -> np.ndarray:
    """Per-list normalisation: `minmax` maps to [0, 1], `zscore` to mean 0 / std 1, `none` copies.

    A constant list (max == min, or std == 0) maps to all zeros for minmax/zscore: it carries no
    ranking information, so it must not outweigh the other list.
    """
    values = np.asarray(scores, dtype=np.float64)
    if method == "none":
        return values.copy()
    if values.size == 0:
        return values.copy()
    if method == "minmax":
        low, high = float(values.min()), float(values.max())
        span = high - low
        return (values - low) / span if span > 0 else np.zeros_like(values)
    if method == "zscore":
        std = float(values.std())
        return (values - float(values.mean())) / std if std > 0 else np.zeros_like(values)
    raise InvalidRequest(f"unknown normalisation {method!r} (use one of {', '.join(NORMALIZATIONS)})")


def rrf(rankings: Sequence[Sequence[K]], k: int = RRF_K) -> list[tuple[K, float]]:
    """Reciprocal-rank fusion: `score(d) = Σ_lists 1 / (k + rank_l(d))`, ranks 1-based.

    Each ranking is best first; an id absent from a list contributes nothing for it. Returns
    (id, score) best first; ties keep the order in which ids were first met (list order, then rank).
    """
    if k < 1:
        raise InvalidRequest(f"RRF k must be ≥ 1 (got {k})")
    scores: dict[K, float] = {}
    for ranking in rankings:
        seen: set[K] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:  # a duplicate within one list counts once, at its best rank
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    # sorted() is stable: equal scores keep first-met order.
    return sorted(scores.items(), key=lambda item: -item[1])


def weighted_sum(
    first: np.ndarray, second: np.ndarray, alpha: float, method: Normalization = "none"
) -> np.ndarray:
    """`alpha·norm(first) + (1 − alpha)·norm(second)`, each list normalised on its own."""
    if not 0.0 <= alpha <= 1.0:
        raise InvalidRequest(f"alpha must be in [0, 1] (got {alpha})")
    a = normalize(first, method)
    b = normalize(second, method)
    if a.shape != b.shape:
        raise InvalidRequest(f"score lists differ in length ({a.shape[0]} vs {b.shape[0]})")
    return alpha * a + (1.0 - alpha) * b
