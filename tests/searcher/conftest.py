"""Fixtures for the search service: a synthetic corpus in real SQLite + real FAISS, a real server on port 0."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from clipsearch.config import CollectionSettings, ServerSettings, Settings, SpaceSettings
from clipsearch.searcher.app import build_engine
from clipsearch.searcher.server import SearchServer
from clipsearch.searcher.synthetic import SyntheticCorpus, write_corpus
from clipsearch.storage.db import Database


def make_settings(tmp_path: Path, **server: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        spaces={"default": SpaceSettings(model=f"local-dir:{tmp_path / 'no-model'}")},
        collections={"synthetic": CollectionSettings(spaces=("default",))},
        server=ServerSettings(
            port=0, index_poll_seconds=0.2, grace_seconds=2.0, batch_window_ms=2.0, **server
        ),
    )


class ServerThread:
    """A SearchServer on its own event loop in a background thread (so tests use the blocking client)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = SearchServer(settings, build_engine(settings))
        self.port = self._run(self.server.start(), 60)

    def _run(self, coro: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._run(self.server.stop(0.5), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def corpus_settings(tmp_path: Path) -> tuple[Settings, SyntheticCorpus]:
    settings = make_settings(tmp_path)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, collection="synthetic", n_items=200, dim=32)
    db.dispose()
    return settings, corpus


@pytest.fixture
def server(corpus_settings: tuple[Settings, SyntheticCorpus]) -> Iterator[ServerThread]:
    running = ServerThread(corpus_settings[0])
    yield running
    running.stop()


@pytest.fixture
def corpus(corpus_settings: tuple[Settings, SyntheticCorpus]) -> SyntheticCorpus:
    return corpus_settings[1]
