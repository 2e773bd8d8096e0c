"""The encoder contract every backend implements (batch first: a single query is a batch of one).

All outputs are float32, L2-normalised, shape (n, dim). Images go in as PIL images (RGB); the
indexer may split the work as `preprocess_image` in decode workers + `encode_preprocessed` in the
encode stage so that decoding overlaps encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


@dataclass(frozen=True, slots=True)
class EncoderInfo:
    """What a loaded space is; `fingerprint` changes whenever its vectors would change."""

    space: str
    model: str
    pretrained: str
    dim: int
    context_length: int
    precision: str
    backend: str
    device: str
    fingerprint: str
    role: str = "default"
    languages: tuple[str, ...] = ()
    long_text: str = "truncate"
    #: the text tower's path when it differs from the image tower's (`split.py`); "" = the same.
    text_backend: str = ""
    text_precision: str = ""

    @property
    def path(self) -> str:
        """How the towers run: `onnx/int8`, or `onnx/int8 (texts torch/fp32)` when they differ."""
        main = f"{self.backend}/{self.precision}"
        if not self.text_backend:
            return main
        return f"{main} (texts {self.text_backend}/{self.text_precision})"

    @property
    def parity_precisions(self) -> tuple[str, ...]:
        return (self.precision, self.text_precision) if self.text_precision else (self.precision,)


@dataclass(frozen=True, slots=True)
class TextEncoding:
    """Text vectors plus, per text, whether it had to be truncated to fit the context."""

    vectors: np.ndarray
    truncated: tuple[bool, ...]
    chunks: tuple[int, ...]


@runtime_checkable
class Encoder(Protocol):
    info: EncoderInfo

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_frames(self, frames: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_texts_detailed(self, texts: Sequence[str]) -> TextEncoding: ...

    def preprocess_image(self, image: Image.Image) -> np.ndarray: ...

    def encode_preprocessed(self, pixels: np.ndarray) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...
