"""`clipsearch index run|status|errors` and `clipsearch build`: indexing collections, building indices."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.config import Settings
    from clipsearch.storage.db import Database

index_app = typer.Typer(name="index", help="Index collections: run, status, errors.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _database(config: Settings) -> Database:
    from clipsearch.lifecycle.database import open_database

    return open_database(config)


@index_app.command("run")
def run(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name (from the config file).")],
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Re-attempt inputs that failed before.")
    ] = False,
    delete_missing: Annotated[
        bool,
        typer.Option("--delete-missing/--keep-missing", help="Mark items whose files vanished as deleted."),
    ] = True,
    build: Annotated[
        bool, typer.Option("--build/--no-build", help="Build and activate indices afterwards.")
    ] = True,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: when on a terminal)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Index every source of COLLECTION into its spaces (incremental: unchanged files are skipped)."""
    from clipsearch.indexer.pipeline import RunOptions
    from clipsearch.indexer.runner import build_indices, index_collection

    config = settings(ctx)
    db = _database(config)
    show = sys.stderr.isatty() and not as_json if progress is None else progress
    summary = index_collection(
        config, db, collection, RunOptions(retry_failed=retry_failed, full_scan=delete_missing, progress=show)
    )
    outcomes = build_indices(config, db, collection) if build else []
    payload: dict[str, Any] = {
        **summary.as_dict(),
        "job_id": summary.job_id,
        "builds": [o.as_dict() for o in outcomes],
    }
    if as_json:
        print_json(payload)
    else:
        failed = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.failed.items())) or "none"
        typer.echo(
            f"{collection}: indexed {summary.indexed}, unchanged {summary.unchanged}, deleted {summary.deleted}, "
            f"failed {sum(summary.failed.values())} ({failed}), earlier failures not retried "
            f"{summary.previously_failed}; {summary.frames} video frames; {summary.seconds:.1f} s "
            f"({summary.items_per_second:.1f} items/s)"
        )
        if summary.failed or summary.previously_failed:
            typer.echo(f"  see: clipsearch index errors {collection}")
        _echo_builds(outcomes)
    if any(o.status == "gated" for o in outcomes):
        raise typer.Exit(75)


def _echo_builds(outcomes: list[Any]) -> None:
    for o in outcomes:
        if o.status == "empty":
            continue
        recall = f"recall@10 {o.recall_at_10:.4f}" if o.recall_at_10 is not None else ""
        typer.echo(
            f"  {o.space}/{o.unit} v{o.version}: {o.status} — {o.factory}, {o.ntotal} vectors, {recall} {o.search_params or ''}"
        )
        if o.status == "gated":
            typer.secho(f"    not activated: {o.reason}", fg=typer.colors.RED, err=True)


@index_app.command("status")
def status(
    ctx: typer.Context,
    collection: Annotated[
        str | None, typer.Argument(help="One collection (default: all configured).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Items per status, the last indexing job, and the active index versions."""
    from clipsearch.errors import NotFound
    from clipsearch.storage import assets, catalog, jobs, versions

    config = settings(ctx)
    names = [collection] if collection else sorted(config.collections)
    db = _database(config)
    report: list[dict[str, Any]] = []
    with db.session() as session:
        spaces = {s.id: s.name for s in catalog.list_spaces(session)}
        for name in names:
            try:
                record = catalog.get_collection(session, name)
            except NotFound:
                if collection:
                    raise
                report.append({"collection": name, "indexed": False})
                continue
            last = next(iter(jobs.list_jobs(session, collection_id=record.id, kind="index", limit=1)), None)
            active = versions.list_versions(session, record.id, statuses=("active",))
            report.append(
                {
                    "collection": name,
                    "assets": assets.count_assets(session, record.id),
                    "last_job": None
                    if last is None
                    else {
                        "id": last.id,
                        "state": last.state,
                        "ended_at": last.ended_at,
                        "details": last.details,
                    },
                    "active_versions": [
                        {
                            "space": spaces.get(v.space_id, str(v.space_id)),
                            "unit": v.unit,
                            "version": v.version,
                            "factory": v.factory,
                            "ntotal": v.ntotal,
                            "recall_at_10": v.metrics.get("recall_at_10"),
                        }
                        for v in active
                    ],
                }
            )
    if as_json:
        print_json(report)
        return
    for entry in report:
        if "assets" not in entry:
            typer.echo(f"{entry['collection']}: not indexed yet")
            continue
        counts = ", ".join(f"{k} {v}" for k, v in entry["assets"].items())
        typer.echo(f"{entry['collection']}: {counts}")
        if entry["last_job"]:
            job = entry["last_job"]
            typer.echo(f"  last run: job {job['id']} {job['state']} at {job['ended_at']}")
        for v in entry["active_versions"]:
            typer.echo(
                f"  active {v['space']}/{v['unit']} v{v['version']}: {v['factory']}, {v['ntotal']} vectors, "
                f"recall@10 {v['recall_at_10']}"
            )


@index_app.command("errors")
def errors(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Only this failure reason.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """List the inputs that failed, with their reasons (re-attempt them with `index run --retry-failed`)."""
    from clipsearch.storage import assets, catalog

    db = _database(settings(ctx))
    rows: list[dict[str, Any]] = []
    with db.session() as session:
        record = catalog.get_collection(session, collection)
        after = 0
        while len(rows) < limit:
            page = assets.list_assets(session, record.id, statuses=["failed"], after_id=after, limit=500)
            if not page:
                break
            for a in page:
                why = str(a.metadata.get("failure_reason") or (a.error or "").partition(":")[0])
                if reason is None or why == reason:
                    rows.append({"id": a.id, "uri": a.uri, "reason": why, "error": a.error})
            after = page[-1].id
    rows = rows[:limit]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"{collection}: no failed inputs")
        return
    for row in rows:
        typer.echo(f"{row['reason']:<20} {row['uri']}\n{'':<20} {row['error']}")
    typer.echo(f"{len(rows)} failed input(s)")


def build(
    ctx: typer.Context,
    collection: Annotated[str, typer.Argument(help="Collection name.")],
    space: Annotated[
        str | None, typer.Option("--space", "-s", help="Only this space (default: all of the collection's).")
    ] = None,
    index: Annotated[
        str | None,
        typer.Option("--index", help="'auto' or a faiss index_factory string (default: the collection's)."),
    ] = None,
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="Only this unit: item or frame.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Build FAISS indices from the stored vectors; activate each one that passes the recall gate."""
    from clipsearch.errors import InvalidRequest
    from clipsearch.indexer.activate import UNITS
    from clipsearch.indexer.runner import build_indices

    if unit is not None and unit not in UNITS:
        raise InvalidRequest(f"unit must be item or frame (got {unit!r})")
    config = settings(ctx)
    outcomes = build_indices(
        config, _database(config), collection, space=space, spec=index, units=(unit,) if unit else UNITS
    )
    if as_json:
        print_json([o.as_dict() for o in outcomes])
    else:
        if all(o.status == "empty" for o in outcomes):
            typer.echo(f"{collection}: nothing indexed yet (run: clipsearch index run {collection})")
        _echo_builds(outcomes)
    if any(o.status == "gated" for o in outcomes):
        raise typer.Exit(75)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app)
    app.command("build")(build)
