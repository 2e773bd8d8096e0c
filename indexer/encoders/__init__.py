"""Encoders: one Encoder per embedding space, loaded from its settings by `load_encoder`.

Import-light: torch and open_clip are imported only when a model is loaded.
"""

from __future__ import annotations

from clipsearch.indexer.encoders.base import Encoder, EncoderInfo, TextEncoding
from clipsearch.indexer.encoders.loader import encoder_for, load_encoder, load_model

__all__ = ["Encoder", "EncoderInfo", "TextEncoding", "encoder_for", "load_encoder", "load_model"]
