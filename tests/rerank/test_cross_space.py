"""Cross-space rerank: stored vectors, bounded cached re-encoding, RRF of the two orders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from clipsearch.searcher.rerank.cross_space import (
    EmbeddingCache,
    ReencodeBudget,
    fuse_cross_space,
    gather_vectors,
)
from clipsearch.searcher.rerank.exact import array_fetch
from clipsearch.searcher.rerank.fusion import rrf


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


SPACE2 = {1: unit(1, 0), 2: unit(0, 1), 3: unit(1, 1), 4: unit(1, 0.2), 5: unit(0.2, 1)}


def stored_for(ids_with_vectors: set[int]):
    store = np.stack([SPACE2[i] for i in sorted(SPACE2)])

    def rows(ids: np.ndarray) -> np.ndarray:
        return np.asarray([i - 1 if int(i) in ids_with_vectors else -1 for i in ids], dtype=np.int64)

    return array_fetch(rows, store)


class CountingEncoder:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        self.calls.append(list(ids))
        return {i: SPACE2[i] for i in ids if i != 5}  # item 5's source cannot be decoded


def test_stored_then_cache_then_reencode_within_budget() -> None:
    cache = EmbeddingCache(max_entries=10)
    encoder = CountingEncoder()
    hashes = {1: "h1", 2: "h2", 3: "h3", 4: "h4", 5: "h5"}
    result = gather_vectors(
        [3, 1, 2, 5, 4],
        fetch_stored=stored_for({1}),
        fingerprint="fp",
        cache=cache,
        content_hash=hashes.__getitem__,
        reencode=encoder,
        budget=ReencodeBudget(max_items=3, max_seconds=10, batch=2),
    )
    assert result.ids.tolist() == [3, 1, 2]
    assert (result.stored, result.cached, result.reencoded) == (1, 0, 2)
    assert result.missing == (5, 4)  # 5 failed to decode, 4 was over the item budget
    assert encoder.calls == [[3, 2], [5]]
    np.testing.assert_allclose(result.vectors[0], SPACE2[3])

    again = gather_vectors(
        [3, 2, 4],
        fetch_stored=stored_for(set()),
        fingerprint="fp",
        cache=cache,
        content_hash=hashes.__getitem__,
        reencode=encoder,
        budget=ReencodeBudget(max_items=3, max_seconds=10, batch=8),
    )
    assert (again.cached, again.reencoded) == (2, 1)
    assert encoder.calls[-1] == [4]
    # A new model fingerprint or a changed file is a different key: no stale vector.
    other = gather_vectors(
        [3],
        fetch_stored=stored_for(set()),
        fingerprint="fp2",
        cache=cache,
        content_hash=hashes.__getitem__,
        reencode=encoder,
    )
    assert other.cached == 0 and other.reencoded == 1


def test_time_budget_stops_reencoding() -> None:
    ticks = iter([0.0, 0.0, 5.0, 5.0, 5.0])
    encoder = CountingEncoder()
    result = gather_vectors(
        [1, 2, 3, 4],
        fetch_stored=stored_for(set()),
        fingerprint="fp",
        cache=EmbeddingCache(),
        reencode=encoder,
        budget=ReencodeBudget(max_items=10, max_seconds=1.0, batch=2),
        clock=lambda: next(ticks),
    )
    assert encoder.calls == [[1, 2]]
    assert result.missing == (3, 4)


def test_lru_evicts_least_recently_used() -> None:
    cache = EmbeddingCache(max_entries=2)
    cache.put(("f", 1, "a"), unit(1, 0))
    cache.put(("f", 2, "a"), unit(0, 1))
    assert cache.get(("f", 1, "a")) is not None
    cache.put(("f", 3, "a"), unit(1, 1))
    assert cache.get(("f", 2, "a")) is None
    assert cache.get(("f", 1, "a")) is not None
    assert len(cache) == 2


def test_fusion_is_rrf_of_both_orders_and_keeps_unscored() -> None:
    vectors = gather_vectors(
        [1, 2, 3], fetch_stored=stored_for({1, 2, 3}), fingerprint="fp", cache=EmbeddingCache()
    )
    query = unit(0, 1)  # in space 2 the order is 2, 3, 1
    scores = fuse_cross_space(query, [1, 3, 2, 9], vectors)
    expected = rrf([[1, 3, 2, 9], [2, 3, 1]])
    assert [(s.item_id, s.fused) for s in scores] == [(i, pytest.approx(v)) for i, v in expected]
    by_id = {s.item_id: s for s in scores}
    assert by_id[9].rerank is None
    assert by_id[2].rerank == pytest.approx(1.0)
    assert scores[-1].item_id == 9
