"""`clipsearch version` and `clipsearch doctor`: what is installed and what this machine can do."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from clipsearch.cli.context import print_json, settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def version(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the clipsearch version."""
    from clipsearch import __version__

    if as_json:
        print_json({"clipsearch": __version__, "python": platform.python_version()})
    else:
        typer.echo(f"clipsearch {__version__}")


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Report Python, torch, CUDA, faiss, CPU features and database reachability."""
    database_url = settings(ctx).database_url  # a bad config is an error, not a failed check
    checks = [
        _python(),
        _package("open_clip_torch"),
        _torch(),
        _faiss(),
        _cpu_features(),
        _database(database_url),
    ]
    if as_json:
        print_json([{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="clipsearch doctor")
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail")
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]problem[/]", c.detail)
        Console().print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"{platform.python_version()} ({sys.executable})")


def _package(name: str) -> Check:
    try:
        return Check(name, True, importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return Check(name, False, "not installed")


def _torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", False, f"import failed: {exc}")
    cuda = torch.cuda.is_available()
    gpus = (
        ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    )
    return Check(
        "torch",
        True,
        f"{torch.__version__}; CUDA available: {cuda}; GPUs: {gpus}; threads: {torch.get_num_threads()}",
    )


def _faiss() -> Check:
    try:
        import faiss
    except ImportError as exc:
        return Check("faiss", False, f"import failed: {exc}")
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    build = "gpu" if hasattr(faiss, "StandardGpuResources") else "cpu"
    return Check("faiss", True, f"{faiss.__version__} ({build} build, {gpus} GPU(s) visible)")


def _cpu_features() -> Check:
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"]
    present = [f for f in wanted if f in flags]
    detail = f"{platform.machine()}, cores: {_cores()}, features: {', '.join(present) or 'none of ' + ', '.join(wanted)}"
    return Check("cpu", True, detail)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _database(url: str) -> Check:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return Check("database", True, _redact(url))
    except Exception as exc:  # doctor reports every failure instead of stopping at the first
        return Check("database", False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command("version")(version)
    app.command("doctor")(doctor)
