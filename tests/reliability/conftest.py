"""A real search server for the reliability tests: synthetic corpus in real SQLite + real FAISS, a tiny
random-weight open_clip model (so text and image queries really decode and encode), port 0."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clipsearch.config import CollectionSettings, LimitSettings, ServerSettings, Settings, SpaceSettings
from clipsearch.searcher.app import build_engine
from clipsearch.searcher.synthetic import SyntheticCorpus, write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread

COLLECTION = "synthetic"
DIM = 32
#: request size limit used by the served settings (small, so the limit test sends little).
MAX_REQUEST_BYTES = 1 << 20


def reliability_settings(root: Path, model_dir: Path, **server: Any) -> Settings:
    return Settings(
        data_dir=root / "data",
        spaces={"default": SpaceSettings(model=f"local-dir:{model_dir}", precision="fp32", backend="torch")},
        collections={COLLECTION: CollectionSettings(spaces=("default",))},
        server=ServerSettings(
            port=0, index_poll_seconds=0.2, grace_seconds=1.0, batch_window_ms=1.0, workers=2, **server
        ),
        limits=LimitSettings(max_request_bytes=MAX_REQUEST_BYTES, max_image_pixels=1_000_000),
    )


@dataclass(frozen=True, slots=True)
class Served:
    settings: Settings
    corpus: SyntheticCorpus
    fingerprint: str


def model_fingerprint(settings: Settings) -> str:
    engine = build_engine(settings)
    return engine.encoders.get("default").info.fingerprint


def prepare_corpus(root: Path, **server: Any) -> Served:
    from helpers.tiny_models import write_tiny_model

    model_dir = write_tiny_model(root / "tiny", "base", embed_dim=DIM)
    settings = reliability_settings(root, model_dir, **server)
    fingerprint = model_fingerprint(settings)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(
        db, settings.data_dir, collection=COLLECTION, n_items=120, dim=DIM, fingerprint=fingerprint
    )
    db.dispose()
    return Served(settings, corpus, fingerprint)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return prepare_corpus(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(served: Served) -> Iterator[ServerThread]:
    running = ServerThread(served.settings)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight open_clip model (local-dir) for the tests that really index media."""
    from helpers.tiny_models import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-model") / "base", "base", embed_dim=DIM)
