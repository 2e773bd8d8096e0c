"""Indexer fixtures: a tiny random-weight model, settings pointing at a tmp data dir, a SQLite database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clipsearch.config import Settings, load_settings
from helpers.tiny_models import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "base", "base", dtype="float32")


@pytest.fixture
def make_settings(tmp_path: Path, tiny_model: Path) -> Callable[..., Settings]:
    """Settings with one collection `c` over the given sources, in the tiny model's space."""

    def make(sources: list[dict[str, Any]], *, batch_size: int = 8, **indexer: Any) -> Settings:
        overrides: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "spaces": {
                "default": {
                    "model": f"local-dir:{tiny_model}",
                    "precision": "fp32",
                    "backend": "torch",
                    "batch_size": batch_size,
                }
            },
            "collections": {"c": {"spaces": ["default"], "sources": sources}},
            "indexer": {"decode_workers": 2, "prefetch_batches": 2, **indexer},
        }
        return load_settings(None, environ={}, overrides=overrides)

    return make
