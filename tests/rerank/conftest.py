"""Synthetic clustered vectors shared by the rerank tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def clustered(n: int, dim: int, clusters: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """L2-normalised points around random centres (enough structure for IVF/PQ to matter)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def make_clustered() -> Callable[..., np.ndarray]:
    return clustered
