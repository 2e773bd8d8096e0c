"""Write docs/cli.md from the CLI's own `--help` output (every command and sub-command)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer.main

ROOT = Path(__file__).resolve().parent.parent


def walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, command)]
    if hasattr(command, "commands"):
        for name in sorted(command.commands):
            out.extend(walk(command.commands[name], [*path, name]))
    return out


def main() -> int:
    os.environ["COLUMNS"] = "100"
    os.environ["TERM"] = "dumb"
    os.environ["NO_COLOR"] = "1"
    from clipsearch.cli import app

    root = typer.main.get_command(app)
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `tools/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    from typer.testing import CliRunner

    runner = CliRunner()
    env = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "CLIPSEARCH_CONFIG": ""}
    for path, _command in walk(root, ["clipsearch"]):
        result = runner.invoke(app, [*path[1:], "--help"], env=env, prog_name="clipsearch")
        text = "\n".join(line.rstrip() for line in result.output.splitlines())
        parts += [f"## `{' '.join(path)}`", "", "```", text.rstrip(), "```", ""]
    (ROOT / "docs" / "cli.md").write_text("\n".join(parts), encoding="utf-8")
    print("docs/cli.md written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
