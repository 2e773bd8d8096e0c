"""Lifecycle test fixtures: a real database per test (SQLite file; PostgreSQL too where available)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
