"""The `clipsearch` command: root app and its sub-apps.

Sub-app modules must stay import-light (no torch, faiss, grpc, av at module level) so that
`clipsearch --help` answers instantly. Heavy imports live inside command functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.core import Context as ClickContext  # typer vendors click
from typer.core import TyperGroup

from clipsearch.errors import ClipsearchError

log = logging.getLogger(__name__)


class ErrorMappingGroup(TyperGroup):
    """Turns a ClipsearchError anywhere below into a one-line message and its exit code."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except ClipsearchError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # disk full, permissions, a vanished file: an operator's problem, not a bug
            log.debug("OS error", exc_info=True)
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(74) from None  # EX_IOERR


app = typer.Typer(
    cls=ErrorMappingGroup,
    name="clipsearch",
    help="Cross-modal retrieval on CLIP-family models: index, search, operate.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", envvar="CLIPSEARCH_CONFIG", help="Path to clipsearch.toml.", show_default=False
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv for debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
) -> None:
    from clipsearch.cli.context import CliState
    from clipsearch.logsetup import configure_logging

    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    configure_logging(-1 if quiet else verbose, log_format)  # type: ignore[arg-type]
    ctx.obj = CliState(config_path=config)


def _register() -> None:
    """Attach the sub-apps; each module owns one noun (or one top-level verb)."""
    from clipsearch.cli import system

    system.register(app)
    import importlib
    import pkgutil

    import clipsearch.cli as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("system", "context") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"clipsearch.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register()


def main() -> None:
    app()
