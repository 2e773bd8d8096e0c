"""Everything the backends share: batching, preprocessing, the long-text policy, normalisation.

A backend only supplies two forward passes on numpy batches (`_image_forward`, `_text_forward`);
the rest of the Encoder contract lives here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from clipsearch.errors import InvalidRequest
from clipsearch.indexer.encoders.base import EncoderInfo, TextEncoding
from clipsearch.indexer.encoders.longtext import plan_texts

if TYPE_CHECKING:
    from PIL import Image

    from clipsearch.indexer.encoders.build import LoadedModel


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class BaseEncoder(ABC):
    """Encoder contract on top of a loaded model; subclasses run the two towers."""

    info: EncoderInfo

    def __init__(self, loaded: LoadedModel, info: EncoderInfo, batch_size: int) -> None:
        self.info = info
        self.batch_size = batch_size
        self._transform = loaded.transform
        self._tokenizer = loaded.tokenizer
        self._image_size = loaded.image_size

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def context_length(self) -> int:
        return self.info.context_length

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one preprocessed image (C, H, W)."""
        return (3, *self._image_size)

    # -- images ---------------------------------------------------------------------------------

    def preprocess_image(self, image: Image.Image) -> np.ndarray:
        """PIL image -> CHW float32 array, exactly open_clip's eval transform. Thread/process safe."""
        return self._transform(image).numpy().astype(np.float32, copy=False)

    def encode_preprocessed(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 4 or pixels.shape[1:] != self.image_shape:
            raise InvalidRequest(
                f"expected preprocessed pixels of shape (n, {self.image_shape}), got {pixels.shape}"
            )
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [
            self._image_forward(pixels[i : i + self.batch_size])
            for i in range(0, len(pixels), self.batch_size)
        ]
        return l2_normalise(np.concatenate(out))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_preprocessed(np.stack([self.preprocess_image(img) for img in images]))

    def encode_frames(self, frames: Sequence[Image.Image]) -> np.ndarray:
        """Video frames are images to the model; one call per sampled set keeps batches full."""
        return self.encode_images(frames)

    # -- texts ----------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return self._tokenizer.count(text)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_texts_detailed(texts).vectors

    def encode_texts_detailed(self, texts: Sequence[str]) -> TextEncoding:
        if isinstance(texts, str):
            raise InvalidRequest("encode_texts takes a sequence of texts, not a single string")
        if not texts:
            return TextEncoding(np.zeros((0, self.dim), dtype=np.float32), (), ())
        plan = plan_texts(texts, self._tokenizer.count, self.context_length, self.info.long_text)
        vectors = self._encode_pieces(plan.pieces)
        if len(plan.pieces) != len(texts):
            owners = np.asarray(plan.owners)
            sums = np.zeros((len(texts), self.dim), dtype=np.float32)
            np.add.at(sums, owners, vectors)
            vectors = l2_normalise(sums)
        return TextEncoding(vectors, plan.truncated, plan.chunks)

    def _encode_pieces(self, pieces: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(pieces), self.batch_size):
            tokens = self._tokenizer(pieces[i : i + self.batch_size]).numpy()
            out.append(self._text_forward(tokens))
        return l2_normalise(np.concatenate(out))

    # -- backend hooks --------------------------------------------------------------------------

    @abstractmethod
    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        """(n, C, H, W) float32 -> (n, dim) unnormalised features."""

    @abstractmethod
    def _text_forward(self, tokens: np.ndarray) -> np.ndarray:
        """(n, context_length) int64 -> (n, dim) unnormalised features."""
