"""Encoders per space, loaded once on first use and shared by all queries (thread-safe)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clipsearch.config import Settings, SpaceSettings

if TYPE_CHECKING:
    from clipsearch.indexer.encoders.base import Encoder

log = logging.getLogger(__name__)

EncoderLoader = Callable[[str, SpaceSettings], "Encoder"]


def default_loader(name: str, space: SpaceSettings, cache_dir: Path | None = None) -> Encoder:
    """The encoder exactly as the indexer loads it (same cache of backend/precision decisions), so
    that `backend = "auto"` resolves the same way and the model fingerprints of the served indices match."""
    try:
        from clipsearch.indexer.encoders import load_encoder
    except ImportError as exc:
        from clipsearch.errors import Unavailable

        raise Unavailable(f"space '{name}': the encoder backend cannot be imported ({exc})") from None
    return load_encoder(name, space, cache_dir=cache_dir)


class EncoderPool:
    def __init__(self, settings: Settings, loader: EncoderLoader | None = None) -> None:
        self._settings = settings
        cache_dir = settings.data_dir / "model-cache"  # as clipsearch.indexer.runner.load_encoders
        self._loader = loader or (lambda name, space: default_loader(name, space, cache_dir))
        self._encoders: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def get(self, space: str) -> Encoder:
        encoder = self._encoders.get(space)
        if encoder is not None:
            return encoder
        with self._lock:
            encoder = self._encoders.get(space)
            if encoder is None:
                log.info("loading encoder for space %s", space)
                encoder = self._loader(space, self._settings.space(space))
                self._encoders[space] = encoder
            return encoder

    def loaded(self) -> dict[str, Encoder]:
        return dict(self._encoders)
