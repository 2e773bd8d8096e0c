"""`clipsearch versions list|activate|rollback|gc`: index versions of a collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.lifecycle.versions import VersionView

versions_app = typer.Typer(
    name="versions",
    help="List, activate, roll back and garbage-collect index versions.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SpaceOption = Annotated[str | None, typer.Option("--space", "-s", help="Only this space.")]
UnitOption = Annotated[str | None, typer.Option("--unit", "-u", help="Only this unit: item or frame.")]


def _print_versions(rows: list[VersionView], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in (
        "id",
        "space",
        "unit",
        "version",
        "status",
        "factory",
        "ntotal",
        "recall",
        "created",
        "activated",
    ):
        table.add_column(
            column, justify="right" if column in ("id", "version", "ntotal", "recall") else "left"
        )
    for v in rows:
        status = f"[green]{v.status}[/]" if v.status == "active" else v.status
        table.add_row(
            str(v.id),
            v.space,
            v.unit,
            f"v{v.version}",
            status,
            v.factory,
            str(v.ntotal),
            f"{v.recall:.3f}" if v.recall is not None else "-",
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.activated_at.strftime("%Y-%m-%d %H:%M:%S") if v.activated_at else "-",
        )
    Console().print(table)


@versions_app.command("list")
def list_versions(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name.")],
    space: SpaceOption = None,
    unit: UnitOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the index versions of a collection, newest first."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.versions import list_version_views

    rows = list_version_views(open_database(settings(ctx)), collection, space=space, unit=unit)
    if as_json:
        print_json([v.as_dict() for v in rows])
    else:
        _print_versions(rows, f"index versions of {collection}")


@versions_app.command("activate")
def activate_version(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name.")],
    version: Annotated[
        int | None, typer.Argument(help="Version number (as `versions list` shows it, without v).")
    ] = None,
    space: Annotated[
        str | None, typer.Option("--space", "-s", help="Space (default: the collection's first).")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", "-u", help="item or frame.")] = "item",
    version_id: Annotated[
        int | None, typer.Option("--id", help="Database id of the version instead.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make one version the active one of its space and unit (atomic; servers swap at their next poll)."""
    from clipsearch.errors import InvalidRequest
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.versions import activate, find_version_id

    config = settings(ctx)
    db = open_database(config)
    if (version is None) == (version_id is None):
        raise InvalidRequest("give either a version number or --id")
    if version_id is None:
        assert version is not None
        space_name = space or _default_space(config, collection)
        version_id = find_version_id(db, collection, space_name, unit, version)
    moved = activate(db, collection, version_id)
    if as_json:
        print_json(
            {
                "activated": moved.activated.as_dict(),
                "previous": moved.previous.as_dict() if moved.previous else None,
            }
        )
        return
    before = f" (was v{moved.previous.version})" if moved.previous else ""
    a = moved.activated
    typer.echo(f"active: {collection}/{a.space}/{a.unit} v{a.version}{before}")


def _default_space(config: object, collection: str) -> str:
    from clipsearch.config import Settings
    from clipsearch.errors import InvalidRequest

    assert isinstance(config, Settings)
    configured = config.collections.get(collection)
    if configured is None or not configured.spaces:
        raise InvalidRequest(f"collection '{collection}' is not configured; name the space with --space")
    return configured.spaces[0]


@versions_app.command("rollback")
def rollback_versions(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name.")],
    space: SpaceOption = None,
    unit: UnitOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-activate the previous version (of every space and unit unless narrowed), in one transaction."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.versions import rollback

    rows = rollback(open_database(settings(ctx)), collection, space=space, unit=unit)
    if as_json:
        print_json([v.as_dict() for v in rows])
        return
    for v in rows:
        typer.echo(f"active: {collection}/{v.space}/{v.unit} v{v.version}")


@versions_app.command("gc")
def gc_versions(
    ctx: typer.Context,
    collection: Annotated[str | None, typer.Argument(help="Collection (default: every collection).")] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            "-k",
            help="Non-active versions to keep per space/unit (default: scheduler.keep_versions).",
        ),
    ] = None,
    min_age: Annotated[
        str,
        typer.Option("--min-age", help="Delete only versions out of service at least this long (e.g. 10m)."),
    ] = "10m",
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would be deleted.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete old index versions (never the active one, never the newest K, never recent ones)."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.triggers import parse_duration
    from clipsearch.lifecycle.versions import collect_garbage
    from clipsearch.storage import catalog

    config = settings(ctx)
    db = open_database(config)
    age = 0.0 if min_age.strip() in ("0", "0s") else parse_duration(min_age)
    if collection is None:
        with db.session() as session:
            names = [c.name for c in catalog.list_collections(session)]
    else:
        names = [collection]
    reports = {
        name: collect_garbage(
            db,
            name,
            keep=keep if keep is not None else config.scheduler.keep_versions,
            min_age_seconds=age,
            data_dir=config.data_dir,
            lease_seconds=config.scheduler.lease_seconds,
            dry_run=dry_run,
        )
        for name in names
    }
    if as_json:
        print_json({name: report.as_dict() for name, report in reports.items()})
        return
    verb = "would delete" if dry_run else "deleted"
    for name, report in reports.items():
        listed = ", ".join(f"{v.space}/{v.unit} v{v.version}" for v in report.deleted) or "nothing"
        typer.echo(f"{name}: {verb} {listed}; kept {report.kept}; {report.freed_bytes / 1e6:.1f} MB freed")


def register(app: typer.Typer) -> None:
    app.add_typer(versions_app)
