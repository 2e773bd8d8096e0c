"""`clipsearch rebuild COLLECTION`: rescan, embed what changed, build, gate, activate, compact.

Safe from cron, systemd timers and Kubernetes CronJobs: a run that finds another rebuild of the same
collection holding the lease exits 75 (EX_TEMPFAIL) at once and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.lifecycle.rebuild import Rebuilder, RebuildOptions, RebuildResult


#: `--gc` deletes only versions out of service this long (as `versions gc` does by default).
GC_MIN_AGE_SECONDS = 600.0


def rebuild(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Configured collection to rebuild.")],
    force: Annotated[
        bool, typer.Option("--force", help="Build and activate new versions even when nothing changed.")
    ] = False,
    gc: Annotated[
        bool,
        typer.Option("--gc/--no-gc", help="Delete old versions afterwards (keeps scheduler.keep_versions)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")] = False,
) -> None:
    """Rebuild one collection under its lease; records a Job. Exit 0 done or up to date, 75 lease held."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.rebuild import Rebuilder, RebuildOptions
    from clipsearch.lifecycle.steps import rebuild_work

    config = settings(ctx)
    config.collection(collection)
    db = open_database(config)
    rebuilder = Rebuilder(db, rebuild_work(config), lease_seconds=config.scheduler.lease_seconds)
    options = RebuildOptions(force_build=force)
    if as_json:
        result = rebuilder.run(collection, options=options, trigger="cli")
    else:
        result = _run_with_progress(rebuilder, collection, options)
    gc_report = None
    if gc:
        from clipsearch.lifecycle.versions import collect_garbage

        gc_report = collect_garbage(
            db,
            collection,
            keep=config.scheduler.keep_versions,
            min_age_seconds=GC_MIN_AGE_SECONDS,
            data_dir=config.data_dir,
            lease_seconds=config.scheduler.lease_seconds,
        )
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "collection": collection,
                "outcome": result.outcome,
                "seconds": result.seconds,
                "details": result.details,
                "gc": gc_report.as_dict() if gc_report else None,
            }
        )
        return
    built = [b for b in result.details.get("built", []) if b.get("status") == "activated"]
    summary = ", ".join(f"{b['space']}/{b['unit']} v{b['version']} ({b['ntotal']} vectors)" for b in built)
    typer.echo(
        f"{collection}: {result.outcome.replace('_', ' ')} in {result.seconds:.1f}s (job {result.job_id})"
        + (f"; active: {summary}" if summary else "")
    )
    if gc_report is not None and gc_report.deleted:
        typer.echo(f"gc: deleted {len(gc_report.deleted)} old version(s)")


def _run_with_progress(rebuilder: Rebuilder, collection: str, options: RebuildOptions) -> RebuildResult:
    """Progress bar on stderr (transient: the one-line result stays)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]rebuild {task.fields[collection]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% {task.fields[step]}"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("rebuild", total=1.0, collection=collection, step="starting")

        def report(fraction: float, step: str) -> None:
            progress.update(task, completed=fraction, step=step)

        return rebuilder.run(collection, options=options, trigger="cli", on_progress=report)


def register(app: typer.Typer) -> None:
    app.command("rebuild")(rebuild)
