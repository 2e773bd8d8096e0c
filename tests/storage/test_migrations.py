"""Alembic: `upgrade head` builds exactly the models' schema, on both engines, from any directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from clipsearch.storage import catalog, migrate
from clipsearch.storage.db import Database
from clipsearch.storage.models import Base


@pytest.fixture
def empty_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_head_leaves_nothing_for_autogenerate(
    empty_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the packaged migrations must not depend on the working directory
    assert migrate.current(empty_db) == ()
    assert len(_diff(empty_db)) > 0  # the comparison does see a missing schema
    empty_db.upgrade()
    assert migrate.current(empty_db) == (migrate.head(),)
    assert _diff(empty_db) == []
    with empty_db.session() as s:
        catalog.create_collection(s, "works")
    # Upgrading again is a no-op.
    empty_db.upgrade()
    assert migrate.current(empty_db) == (migrate.head(),)


def test_downgrade_to_base_removes_every_table(empty_db: Database) -> None:
    empty_db.upgrade()
    migrate.downgrade(empty_db, "base")
    assert set(inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current(empty_db) == ()


def test_history_lists_the_head() -> None:
    revisions = migrate.history()
    assert revisions[0].is_head and revisions[0].revision == migrate.head()
    assert revisions[-1].down_revision is None
