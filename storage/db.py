"""`Database`: one engine and session factory for a URL (SQLite or PostgreSQL via psycopg 3).

Sessions are made here and passed into the repository functions, which never commit on their own:
the caller decides the transaction (`with db.session() as s: ...` commits on success, rolls back on
error).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clipsearch.errors import InvalidRequest, Unavailable
from clipsearch.storage.models import Base

log = logging.getLogger(__name__)


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain `postgresql://` means psycopg 3 (the driver we ship)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidRequest(f"invalid database URL {redact(url)!r}: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidRequest(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable url>"


class Database:
    """Engine + sessionmaker. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

    def __init__(self, url: str | URL, *, busy_timeout_ms: int = 10_000, echo: bool = False) -> None:
        self.url = normalize_url(url) if isinstance(url, str) else url
        self.busy_timeout_ms = busy_timeout_ms
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Read-only units of work skip SQLite's write lock (see _configure_sqlite).
        self._read_sessions = sessionmaker(
            self.engine.execution_options(clipsearch_read_only=True), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back when it raises.

        On SQLite it takes the write lock up front (BEGIN IMMEDIATE, waiting up to the busy
        timeout), so a transaction that reads and then writes never fails with "database is
        locked" halfway. Use `read_session()` for work that only reads.
        """
        with self._unit_of_work(self._sessions) as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A unit of work that only reads: never waits for writers on SQLite (WAL snapshot)."""
        with self._unit_of_work(self._read_sessions) as session:
            yield session

    @contextmanager
    def raw_cursor(self) -> Iterator[Any]:
        """A DBAPI cursor on a pooled connection, for the one read on every search's path (hydrating a
        page of hits), where SQLAlchemy's session and statement layers cost ~10x the query itself.

        Plain SQL with `placeholder` marks, reads only. SQLite runs in autocommit (one statement is
        one snapshot, no lock taken); on PostgreSQL the pool rolls the read transaction back.
        """
        errors = self.engine.dialect.loaded_dbapi.OperationalError
        try:
            connection = self.engine.raw_connection()
        except OperationalError as exc:
            raise Unavailable(f"database error on {redact(str(self.url))}: {exc.orig}") from exc
        try:
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        except errors as exc:
            raise Unavailable(f"database error on {redact(str(self.url))}: {exc}") from exc
        finally:
            connection.close()

    @property
    def placeholder(self) -> str:
        """The DBAPI parameter mark for `raw_cursor` statements."""
        return "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    @contextmanager
    def _unit_of_work(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise Unavailable(f"database error on {redact(str(self.url))}: {exc.orig}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def create_all(self) -> None:
        """Create the schema directly from the models (tests, throwaway databases).

        Deployments use `upgrade()` so the Alembic version table is kept.
        """
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as exc:
            raise Unavailable(f"database error on {redact(str(self.url))}: {exc.orig}") from exc

    def upgrade(self, revision: str = "head") -> None:
        from clipsearch.storage.migrate import upgrade

        # An unreachable server must read as Unavailable here too (the CLI's one-line error, exit 69).
        try:
            upgrade(self, revision)
        except OperationalError as exc:
            raise Unavailable(f"database error on {redact(str(self.url))}: {exc.orig}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({redact(str(self.url))!r})"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN oddly; take it over
    # (the recipe from the SQLAlchemy SQLite dialect documentation).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL is durable across application crashes; FULL adds power-loss safety.
                cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that read first cannot wait for the write lock later (WAL answers
        # SQLITE_BUSY at once), so writers take it at BEGIN; readers keep deferred snapshots.
        read_only = connection.get_execution_options().get("clipsearch_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
