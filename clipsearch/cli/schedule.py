"""`clipsearch schedule add|list|remove|run`: recurring rebuilds stored in the database."""

from __future__ import annotations

from typing import Annotated

import typer

from clipsearch.cli.context import print_json, settings

schedule_app = typer.Typer(
    name="schedule", help="Schedule recurring rebuilds and run the scheduler.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@schedule_app.command("add")
def add(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection to rebuild.")],
    cron: Annotated[
        str | None,
        typer.Option("--cron", help="Cron expression in UTC: 5 fields, or 6 with seconds first."),
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Fixed interval instead, e.g. 30s, 15m, 6h.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or replace the rebuild schedule of a collection."""
    from clipsearch.errors import InvalidRequest
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.scheduler import add_schedule
    from clipsearch.lifecycle.triggers import EVERY_PREFIX

    if (cron is None) == (every is None):
        raise InvalidRequest("give exactly one of --cron or --every")
    config = settings(ctx)
    config.collection(collection)  # only configured collections can be rebuilt
    expression = cron if cron is not None else EVERY_PREFIX + str(every)
    added = add_schedule(open_database(config), collection, expression)
    if as_json:
        print_json(added.as_dict())
    else:
        nxt = added.next_fire_at.isoformat() if added.next_fire_at else "-"
        typer.echo(f"schedule {added.id}: rebuild {collection} at '{added.cron}' (UTC); next {nxt}")


@schedule_app.command("list")
def list_(
    ctx: typer.Context,
    collection: Annotated[str | None, typer.Argument(help="Only this collection.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List schedules with their last and next firing."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.scheduler import list_schedule_views

    rows = list_schedule_views(open_database(settings(ctx)), collection)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schedules (UTC)")
    for column in ("id", "collection", "kind", "schedule", "enabled", "last fired", "next"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            r.collection,
            r.kind,
            r.cron,
            "yes" if r.enabled else "no",
            r.last_fired_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_fired_at else "-",
            r.next_fire_at.strftime("%Y-%m-%d %H:%M:%S") if r.next_fire_at else "-",
        )
    Console().print(table)


@schedule_app.command("remove")
def remove(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection whose schedule goes.")],
    as_json: JsonOption = False,
) -> None:
    """Remove the rebuild schedule of a collection."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.scheduler import remove_schedule

    removed = remove_schedule(open_database(settings(ctx)), collection)
    if as_json:
        print_json({"removed": removed, "collection": collection})
    else:
        typer.echo(f"removed schedule {removed} of {collection}")


@schedule_app.command("run")
def run(
    ctx: typer.Context,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks at the schedule table.")] = 1.0,
    workers: Annotated[
        int, typer.Option("--workers", help="Rebuilds that may run at once (different collections).")
    ] = 1,
) -> None:
    """Fire the stored schedules until SIGTERM/SIGINT (then finish the running rebuilds and exit 0)."""
    import signal
    import threading

    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.rebuild import Rebuilder
    from clipsearch.lifecycle.scheduler import Firing, Scheduler
    from clipsearch.lifecycle.steps import rebuild_work

    config = settings(ctx)
    db = open_database(config)
    rebuilder = Rebuilder(
        db, rebuild_work(config), lease_seconds=config.scheduler.lease_seconds, holder_role="scheduler"
    )

    def fire(firing: Firing) -> None:
        config.collection(
            firing.collection
        )  # a schedule of a collection removed from the config fails loudly
        rebuilder.run(firing.collection, trigger="schedule")

    scheduler = Scheduler(
        db,
        fire,
        misfire_grace_seconds=config.scheduler.misfire_grace_seconds,
        poll_seconds=poll,
        max_workers=max(1, workers),
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        typer.echo(f"received {signal.Signals(signum).name}; stopping after the running rebuilds", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    typer.echo(f"scheduler running (poll {poll:g}s); SIGTERM or Ctrl-C stops it", err=True)
    scheduler.run(stop)
    typer.echo("scheduler stopped", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app)
