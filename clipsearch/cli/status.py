"""`clipsearch status`: the one-screen overview (collections, assets, active versions, jobs, schedules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.lifecycle.status import CollectionStatus


def status(
    ctx: typer.Context,
    collection: Annotated[str | None, typer.Argument(help="Only this collection.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Recent jobs shown per collection.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show collections, spaces, assets by status, active versions, recent jobs and schedules."""
    from clipsearch.lifecycle.database import open_database
    from clipsearch.lifecycle.status import collection_statuses

    config = settings(ctx)
    rows = collection_statuses(open_database(config), config, collection=collection, job_limit=max(0, jobs))
    if as_json:
        print_json({"collections": [r.as_dict() for r in rows]})
        return
    _render(rows)


def _render(rows: list[CollectionStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("no collections configured or stored")
        return
    overview = Table(title="clipsearch status", title_justify="left")
    for column in ("collection", "spaces", "assets", "active versions", "last job", "schedule", "lease"):
        overview.add_column(column)
    for r in rows:
        assets = ", ".join(f"{n} {s}" for s, n in r.assets.items() if n) or "-"
        active = "\n".join(
            f"{v.space}/{v.unit} v{v.version}: {v.ntotal} vec"
            + (f", recall {v.recall:.3f}" if v.recall is not None else "")
            for v in r.active_versions
        )
        last = r.last_jobs[0] if r.last_jobs else None
        last_text = "-"
        if last is not None:
            colour = {"succeeded": "green", "failed": "red", "running": "yellow"}.get(last.state, "white")
            took = f" {last.seconds:.1f}s" if last.seconds is not None else ""
            outcome = last.details.get("outcome", "")
            last_text = f"#{last.id} {last.kind} [{colour}]{last.state}[/]{took}" + (
                f" ({outcome})" if outcome else ""
            )
            if last.error:
                last_text += f"\n[red]{last.error[:80]}[/]"
        schedule = "\n".join(
            f"{s.cron}" + (f" → {s.next_fire_at:%H:%M:%S}" if s.next_fire_at else "") for s in r.schedules
        )
        overview.add_row(
            r.name + ("" if r.configured else " [dim](not configured)[/]"),
            ", ".join(r.spaces) or "-",
            assets,
            active or "[dim]none[/]",
            last_text,
            schedule or "-",
            r.lease_holder or "-",
        )
    console.print(overview)
    recent = [j for r in rows for j in r.last_jobs]
    if recent:
        jobs_table = Table(title="recent jobs", title_justify="left")
        for column in ("id", "collection", "kind", "state", "started", "seconds", "outcome / error"):
            jobs_table.add_column(column)
        for j in sorted(recent, key=lambda job: job.id, reverse=True)[:10]:
            jobs_table.add_row(
                str(j.id),
                j.collection,
                j.kind,
                j.state,
                j.started_at.strftime("%Y-%m-%d %H:%M:%S") if j.started_at else "-",
                f"{j.seconds:.1f}" if j.seconds is not None else "-",
                (j.error or str(j.details.get("outcome", "")))[:60],
            )
        console.print(jobs_table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
