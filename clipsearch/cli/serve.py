"""`clipsearch serve`: run the gRPC search server (SIGTERM/SIGINT → graceful shutdown)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from clipsearch.cli.context import settings

if TYPE_CHECKING:
    from clipsearch.searcher.server import SearchServer


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (0 = any free port; default: server.port).")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus /metrics port (0 = off; default: server.metrics_port).")
    ] = None,
) -> None:
    """Serve the collections over gRPC until SIGTERM or Ctrl-C."""
    import asyncio

    from clipsearch.searcher.app import serve_until_signal

    base = settings(ctx)
    overrides = {
        key: value
        for key, value in (("host", host), ("port", port), ("metrics_port", metrics_port))
        if value is not None
    }
    configured = base.model_copy(update={"server": base.server.model_copy(update=overrides)})

    def ready(server: SearchServer) -> None:
        metrics = f", metrics on :{server.metrics_port}/metrics" if server.metrics_port else ""
        typer.echo(f"clipsearch serving on {server.address}{metrics}", err=False)

    asyncio.run(serve_until_signal(configured, ready))
    typer.echo("clipsearch server stopped")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
