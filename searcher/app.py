"""Composition: settings → database → catalog → engine → server, in one place (CLI, demo, bench, tests)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from clipsearch.config import Settings
from clipsearch.searcher.encoders import EncoderLoader
from clipsearch.searcher.engine import SearchEngine
from clipsearch.searcher.server import SearchServer

log = logging.getLogger(__name__)


def build_engine(settings: Settings, encoder_loader: EncoderLoader | None = None) -> SearchEngine:
    from clipsearch.searcher import faiss_runtime
    from clipsearch.searcher.storage_catalog import StorageCatalog
    from clipsearch.storage.db import Database

    faiss_runtime.configure(settings.server.faiss_threads)

    db = Database(settings.database_url, busy_timeout_ms=settings.database.busy_timeout_ms)
    return SearchEngine(
        settings,
        StorageCatalog(db, settings.data_dir, settings.server.item_cache_seconds),
        encoder_loader=encoder_loader,
    )


async def serve_until_signal(
    settings: Settings, on_ready: Callable[[SearchServer], None] | None = None
) -> None:
    """Run a server until SIGTERM/SIGINT, then shut down gracefully."""
    server = SearchServer(settings, build_engine(settings))
    await server.start()
    if on_ready is not None:
        on_ready(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received; draining (grace %.1f s)", settings.server.grace_seconds)
    await server.stop()
