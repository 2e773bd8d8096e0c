"""Encoders per space, loaded once on first use and shared by all queries (thread-safe)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from clipsearch.config import Settings, SpaceSettings

if TYPE_CHECKING:
    from clipsearch.indexer.encoders.base import Encoder

log = logging.getLogger(__name__)

EncoderLoader = Callable[[str, SpaceSettings], "Encoder"]


def default_loader(name: str, space: SpaceSettings) -> Encoder:
    try:
        from clipsearch.indexer.encoders import load_encoder
    except ImportError as exc:
        from clipsearch.errors import Unavailable

        raise Unavailable(f"space '{name}': the encoder backend cannot be imported ({exc})") from None
    return load_encoder(name, space)


class EncoderPool:
    def __init__(self, settings: Settings, loader: EncoderLoader | None = None) -> None:
        self._settings = settings
        self._loader = loader or default_loader
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
