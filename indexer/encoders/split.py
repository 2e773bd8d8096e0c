"""One space, two paths: images through one backend/precision, texts through another.

`auto` times each tower on its own (`select.py`) and, when the fastest image path and the fastest
text path differ (which of them wins varies with the machine and the model: `bench/encode.py`
prints both towers per path), runs a space through both. Both run the same loaded model's
preprocessing and tokenizer, so the split changes speed only, never what is encoded.
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
