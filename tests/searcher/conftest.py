"""Fixtures for the search service: a synthetic corpus in real SQLite + real FAISS, a real server on port 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clipsearch.config import CollectionSettings, ServerSettings, Settings, SpaceSettings
from clipsearch.searcher.synthetic import SyntheticCorpus, write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread


def make_settings(tmp_path: Path, **server: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        spaces={"default": SpaceSettings(model=f"local-dir:{tmp_path / 'no-model'}")},
        collections={"synthetic": CollectionSettings(spaces=("default",))},
        server=ServerSettings(
            port=0, index_poll_seconds=0.2, grace_seconds=2.0, batch_window_ms=2.0, **server
        ),
    )


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
