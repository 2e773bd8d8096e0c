"""One space, two paths: images through one backend/precision, texts through another.

`auto` times each tower on its own (`select.py`): on this project's CPUs ONNX Runtime int8 is the
fastest image path, while PyTorch fp32 with trimmed text batches (`text_trim.py`) is the fastest
text path (`bench/encode.py`). Both run the same loaded model's preprocessing and tokenizer, so the
split changes speed only, never what is encoded.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from clipsearch.indexer.encoders.common import BaseEncoder

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.indexer.encoders.build import LoadedModel


class SplitEncoder(BaseEncoder):
    def __init__(self, loaded: LoadedModel, images: BaseEncoder, texts: BaseEncoder) -> None:
        info = dataclasses.replace(
            images.info, text_backend=texts.info.backend, text_precision=texts.info.precision
        )
        super().__init__(loaded, info, images.batch_size)
        self.images = images
        self.texts = texts

    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        return self.images._image_forward(pixels)

    def _text_forward(self, tokens: np.ndarray) -> np.ndarray:
        return self.texts._text_forward(tokens)
