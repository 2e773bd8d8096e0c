"""RRF and per-list normalisation, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.rerank.fusion import normalize, rrf, weighted_sum


def test_rrf_matches_hand_computed_scores() -> None:
    fused = dict(rrf([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [key for key, _ in rrf([["a", "b", "c"], ["c", "a"]])] == ["a", "c", "b"]


def test_rrf_small_k_rewards_agreement_and_duplicates_count_once() -> None:
    ranked = rrf([[1, 2, 3], [3, 2, 1], [2, 2, 9]], k=1)
    # 2 is second, second and first: 1/3 + 1/3 + 1/2 beats 1 (1/2+1/4) and 3 (1/4+1/2).
    assert ranked[0] == (2, pytest.approx(1 / 3 + 1 / 3 + 1 / 2))
    assert dict(ranked)[9] == pytest.approx(1 / 4)  # the duplicate 2 did not push 9 to rank 3


def test_rrf_rejects_k_below_one() -> None:
    with pytest.raises(InvalidRequest):
        rrf([[1]], k=0)


def test_minmax_and_zscore() -> None:
    scores = np.array([0.2, 0.4, 0.3])
    np.testing.assert_allclose(normalize(scores, "minmax"), [0.0, 1.0, 0.5])
    z = normalize(scores, "zscore")
    np.testing.assert_allclose(z, (scores - 0.3) / np.std(scores), atol=1e-12)
    np.testing.assert_allclose(normalize(scores, "none"), scores)
    # A constant list carries no ranking information: it becomes zeros, not NaN.
    np.testing.assert_array_equal(normalize(np.array([0.5, 0.5]), "minmax"), [0.0, 0.0])
    np.testing.assert_array_equal(normalize(np.array([0.5, 0.5]), "zscore"), [0.0, 0.0])
    with pytest.raises(InvalidRequest):
        normalize(scores, "rank")  # type: ignore[arg-type]


def test_weighted_sum_with_normalisation_makes_scales_comparable() -> None:
    # List a spans 0.20..0.30, list b spans 0.0..10.0; raw b would dominate, normalised it does not.
    a = np.array([0.30, 0.20, 0.25])
    b = np.array([0.0, 10.0, 5.0])
    raw = weighted_sum(a, b, 0.5)
    assert int(np.argmax(raw)) == 1
    fused = weighted_sum(a, b, 0.5, "minmax")
    np.testing.assert_allclose(fused, [0.5, 0.5, 0.5])
    np.testing.assert_allclose(weighted_sum(a, b, 1.0, "minmax"), [1.0, 0.0, 0.5])
    with pytest.raises(InvalidRequest):
        weighted_sum(a, b, 1.5)
