"""Choose the fastest CPU backend/precision that passes parity on this machine."""

from __future__ import annotations

from pathlib import Path

from clipsearch.indexer.encoders.build import LoadedModel
from clipsearch.indexer.encoders.common import BaseEncoder

from clipsearch.config import SpaceSettings


def choose_cpu_encoder(
    name: str, space: SpaceSettings, loaded: LoadedModel, fingerprint: str, cache_dir: Path
) -> BaseEncoder:
    from clipsearch.indexer.encoders.loader import torch_cpu_encoder

    return torch_cpu_encoder(name, space, loaded, fingerprint)
