"""`clipsearch db upgrade|current|history`: the database schema (Alembic migrations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.storage.db import Database

db_app = typer.Typer(
    name="db",
    help="Database schema: migrate, show the current revision, list migrations.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _database(ctx: typer.Context) -> Database:
    from clipsearch.storage.db import Database

    config = settings(ctx)
    return Database(
        config.database_url, busy_timeout_ms=config.database.busy_timeout_ms, echo=config.database.echo
    )


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the schema to REVISION (default: the newest)."""
    from clipsearch.storage import migrate
    from clipsearch.storage.db import redact

    db = _database(ctx)
    try:
        before = migrate.current(db)
        db.upgrade(revision)
        after = migrate.current(db)
    finally:
        db.dispose()
    typer.echo(f"{redact(str(db.url))}: {','.join(before) or '(empty)'} -> {','.join(after) or '(empty)'}")


@db_app.command("current")
def current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the revision the database is at and whether it is the newest."""
    from clipsearch.storage import migrate
    from clipsearch.storage.db import redact

    db = _database(ctx)
    try:
        revisions = migrate.current(db)
    finally:
        db.dispose()
    head = migrate.head()
    up_to_date = revisions == (head,)
    if as_json:
        print_json(
            {"url": redact(str(db.url)), "current": list(revisions), "head": head, "up_to_date": up_to_date}
        )
        return
    state = "up to date" if up_to_date else f"behind head {head}: run `clipsearch db upgrade`"
    typer.echo(f"{','.join(revisions) or '(empty database)'} ({state})")


@db_app.command("history")
def history(as_json: JsonOption = False) -> None:
    """List the migrations, newest first."""
    from clipsearch.storage import migrate

    revisions = migrate.history()
    if as_json:
        print_json(
            [
                {
                    "revision": r.revision,
                    "down_revision": r.down_revision,
                    "message": r.message,
                    "head": r.is_head,
                }
                for r in revisions
            ]
        )
        return
    for r in revisions:
        marker = " (head)" if r.is_head else ""
        typer.echo(f"{r.down_revision or '<base>'} -> {r.revision}{marker}: {r.message}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app)
