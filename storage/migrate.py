"""Alembic, configured in code: the packaged migrations work from any directory and from a wheel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from clipsearch.storage.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def alembic_config(db: Database | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if db is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        url = db.url.render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest)."""
    config = alembic_config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str) -> None:
    config = alembic_config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current(db: Database) -> tuple[str, ...]:
    """The revision(s) the database is at; empty for a database never migrated."""
    with db.engine.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return heads[0]


def history() -> list[Revision]:
    """All revisions, newest first."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    out = []
    for rev in script.walk_revisions():
        down = rev.down_revision
        out.append(
            Revision(
                revision=rev.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=rev.doc or "",
                is_head=rev.revision in heads,
            )
        )
    return out
