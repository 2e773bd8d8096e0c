"""Database fixtures for any test area: the same tests on SQLite and on a real PostgreSQL.

PostgreSQL comes from `CLIPSEARCH_TEST_POSTGRES_URL` (`bash tools/postgres.sh start`, then
`export CLIPSEARCH_TEST_POSTGRES_URL="$(bash tools/postgres.sh url)"`). Each test gets its own
schema (search_path) so parallel workers never see each other's tables; the schema is dropped after.
Without a URL the postgres variants skip with a reason, unless `CLIPSEARCH_REQUIRE_POSTGRES=1`
(CI), where they fail.

Use in a conftest:

    from helpers.databases import ENGINES, database_url

    @pytest.fixture(params=ENGINES)
    def db_url(request, tmp_path):
        with database_url(request.param, tmp_path) as url:
            yield url
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL_ENV = "CLIPSEARCH_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "CLIPSEARCH_REQUIRE_POSTGRES"
ENGINES = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
)


def postgres_base_url() -> str:
    """The server URL, or skip (fail when PostgreSQL is required)."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if not url:
        reason = f"no PostgreSQL: set {POSTGRES_URL_ENV} (bash tools/postgres.sh start; … url)"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {reason}")
        pytest.skip(reason)
    return url


@contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """A fresh schema on the server; yields a URL whose connections use it as search_path."""
    from sqlalchemy import create_engine, make_url, text

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            raise
        pytest.skip(f"PostgreSQL at {make_url(base_url).render_as_string()} unreachable: {exc}")
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_url(engine: str, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database of the given engine ('sqlite' or 'postgres')."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'clipsearch-test.db'}"
    elif engine == "postgres":
        with postgres_schema_url(postgres_base_url()) as url:
            yield url
    else:
        raise ValueError(f"unknown engine {engine!r}")
