"""Long-CLIP knowledge-preserved stretching of a text positional embedding (arXiv 2403.15378).

The first `keep` positions (well trained, they carry most of the meaning) stay as they are; the
rest are interpolated `factor`× so the table covers `factor·L − (factor−1)·keep` positions
(77 → 248 with keep=20, factor=4); the last `factor` positions extrapolate from the final two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

KEEP_POSITIONS = 20
FACTOR = 4


def stretched_length(length: int, keep: int = KEEP_POSITIONS, factor: int = FACTOR) -> int:
    return factor * length - (factor - 1) * keep


def stretch_positions(old: torch.Tensor, keep: int = KEEP_POSITIONS, factor: int = FACTOR) -> torch.Tensor:
    import torch

    length, width = old.shape
    new = torch.zeros((stretched_length(length, keep, factor), width), dtype=old.dtype)
    new[:keep] = old[:keep]
    for i in range(length - 1 - keep):
        for j in range(factor):
            new[keep + factor * i + j] = (factor - j) / factor * old[keep + i] + j / factor * old[
                keep + i + 1
            ]
    tail = factor * (length - 1 - keep) + keep
    for j in range(factor):
        new[tail + j] = old[length - 1] + j * (old[length - 1] - old[length - 2]) / factor
    return new
