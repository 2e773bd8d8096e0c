"""Tiny random-weight models shared by the encoder tests (written once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.tiny_models import write_tiny_model


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "base", "base")


@pytest.fixture(scope="session")
def tiny_long(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "long", "long", seed=1)


@pytest.fixture(scope="session")
def tiny_multilingual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "multilingual", "multilingual", seed=2)


@pytest.fixture(scope="session")
def tiny_small_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "small", "base", seed=3, small_vocab=True)
