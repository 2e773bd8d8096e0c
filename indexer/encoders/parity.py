"""Parity of a fast encoder against the fp32 PyTorch reference on fixed probe inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clipsearch.indexer.encoders.common import BaseEncoder

PROBE_TEXTS = (
    "a photo of a dog",
    "a red circle and a blue square on a white background.",
    "zwei Katzen schlafen auf dem Sofa",
    "an extremely detailed description of a busy street market at dusk, with lanterns, stalls and people",
)
#: minimum cosine to fp32 a path must reach to be used (issue 4).
MIN_COSINE = {"fp32": 0.999, "bf16": 0.999, "fp16": 0.999, "int8": 0.99}


@dataclass(frozen=True, slots=True)
class Parity:
    image_cosine: float
    text_cosine: float

    @property
    def worst(self) -> float:
        return min(self.image_cosine, self.text_cosine)


def probe_pixels(image_shape: tuple[int, int, int], n: int = 4, seed: int = 0) -> np.ndarray:
    """Smooth random images (not white noise: real images are smooth, noise exaggerates errors)."""
    rng = np.random.default_rng(seed)
    c, h, w = image_shape
    coarse = rng.normal(size=(n, c, 8, 8)).astype(np.float32)
    rows = np.linspace(0, 7, h).round().astype(int)
    cols = np.linspace(0, 7, w).round().astype(int)
    pixels = coarse[:, :, rows][:, :, :, cols] + 0.1 * rng.normal(size=(n, c, h, w))
    return np.ascontiguousarray(pixels, dtype=np.float32)


def measure_parity(reference: BaseEncoder, candidate: BaseEncoder) -> Parity:
    pixels = probe_pixels(reference.image_shape)
    image = _min_cosine(reference.encode_preprocessed(pixels), candidate.encode_preprocessed(pixels))
    text = _min_cosine(reference.encode_texts(PROBE_TEXTS), candidate.encode_texts(PROBE_TEXTS))
    return Parity(image, text)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))
