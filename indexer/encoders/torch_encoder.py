"""PyTorch backend: fp32, bf16 (CPUs with bf16 support) or fp16 (CUDA)."""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from clipsearch.indexer.encoders.base import EncoderInfo
from clipsearch.indexer.encoders.common import BaseEncoder
from clipsearch.indexer.encoders.hardware import cpu_has_fast_bf16
from clipsearch.indexer.encoders.text_trim import TextForward, trimmed_text_forward

if TYPE_CHECKING:
    import torch

    from clipsearch.indexer.encoders.build import LoadedModel

log = logging.getLogger(__name__)

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class TorchEncoder(BaseEncoder):
    def __init__(
        self, loaded: LoadedModel, info: EncoderInfo, batch_size: int, *, copy_model: bool | None = None
    ) -> None:
        import torch

        super().__init__(loaded, info, batch_size)
        self._device = torch.device(info.device)
        self._dtype: torch.dtype = getattr(torch, DTYPES[info.precision])
        if info.precision == "bf16" and self._device.type == "cpu" and not cpu_has_fast_bf16():
            # Here whatever asked for it (a setting, a benchmark): auto never picks emulated bf16.
            log.warning(
                "space %s: bf16 on a CPU (or PyTorch build) without native bf16 is emulated, several "
                "times slower than fp32; precision 'auto' or 'fp32' is faster here",
                info.space,
            )
        # A cast works in place: keep the shared fp32 model intact (it is the parity reference) unless told.
        if copy_model is None:
            copy_model = info.precision != "fp32" or info.device != "cpu"
        model = copy.deepcopy(loaded.model) if copy_model else loaded.model
        self._model = _to_precision(model.to(self._device), self._dtype).eval()
        self._run: Any = self._model  # open_clip models: encode_image / encode_text
        # Padding cut off where that is exact (causal or masked towers): a query is ~15 of 77 tokens.
        self._text_run: TextForward = trimmed_text_forward(self._model) or self._run.encode_text

    @property
    def model(self) -> torch.nn.Module:
        return self._model

    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self._device, self._dtype)
            return np.asarray(self._run.encode_image(x).float().cpu().numpy())

    def _text_forward(self, tokens: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tokens)).to(self._device)
            return np.asarray(self._text_run(x).float().cpu().numpy())


def _to_precision(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Low-precision weights the way open_clip does it: matmul/conv weights cast, LayerNorms kept fp32.

    On a CPU with native bf16 this is ~3-5x faster than fp32 (bench/encode.py) and parity stays >= 0.9999;
    fp32 LayerNorms are both more accurate and faster than a whole-model cast. Hugging Face text towers
    (embeddings that do not follow open_clip's cast conventions) are cast whole.
    """
    import torch
    from open_clip import convert_weights_to_lp

    if dtype == torch.float32:
        return model
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "config"):  # open_clip's HFTextEncoder
        convert_weights_to_lp(model.visual, dtype=dtype)
        text.to(dtype)
        return model
    convert_weights_to_lp(model, dtype=dtype)
    return model
