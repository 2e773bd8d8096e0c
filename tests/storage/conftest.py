"""Storage fixtures: every SQL test runs on SQLite and on PostgreSQL (see tests/helpers/databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clipsearch.storage.db import Database
from helpers.databases import ENGINES, database_url


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A database with the schema created from the models."""
    database = Database(db_url, busy_timeout_ms=5_000)
    database.create_all()
    try:
        yield database
    finally:
        database.dispose()
