"""Lifecycle test fixtures: a real database per test (SQLite file; PostgreSQL too where available)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clipsearch.config import Settings, load_settings
from clipsearch.storage.db import Database
from helpers.databases import ENGINES, database_url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'clipsearch.db'}"


@pytest.fixture(params=ENGINES)
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite and on PostgreSQL (skipped without a server, required in CI)."""
    with database_url(request.param, tmp_path) as url:
        yield url


def _open(url: str) -> Iterator[Database]:
    database = Database(url)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    yield from _open(db_url)


@pytest.fixture
def any_db(any_db_url: str) -> Iterator[Database]:
    yield from _open(any_db_url)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.tiny_models import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "base", "base", dtype="float32")


def write_images(folder: Path, count: int, start: int = 0) -> list[Path]:
    """Small distinct PNGs (colour gradient + a block whose place depends on the index)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 255, size=(40, 40, 3), dtype=np.uint8)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def lifecycle_settings(tmp_path: Path, model: Path, **server: Any) -> Settings:
    """One collection `photos` over `tmp_path/photos`, embedded with the tiny model; exact (Flat) indices."""
    return load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "spaces": {
                "default": {
                    "model": f"local-dir:{model}",
                    "precision": "fp32",
                    "backend": "torch",
                    "batch_size": 16,
                }
            },
            "collections": {
                "photos": {
                    "spaces": ["default"],
                    "sources": [{"path": str(tmp_path / "photos")}],
                    "index": "Flat",
                }
            },
            "indexer": {"decode_workers": 1, "prefetch_batches": 2},
            "server": {"port": 0, "index_poll_seconds": 0.2, "grace_seconds": 1.0, **server},
            "scheduler": {"lease_seconds": 30.0},
        },
    )
