"""Opening the database for lifecycle commands: one place that applies the settings and migrations."""

from __future__ import annotations

from clipsearch.config import Settings
from clipsearch.storage.db import Database


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """A `Database` for the configured URL; with `migrate`, the schema is brought to the newest revision
    first (idempotent), so a lifecycle command also works on a database nobody has initialised yet."""
    db = Database(
        settings.database_url, busy_timeout_ms=settings.database.busy_timeout_ms, echo=settings.database.echo
    )
    if migrate:
        db.upgrade()
    return db
