from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from clipsearch.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "doctor" in result.output and "version" in result.output


def test_every_command_has_help() -> None:
    import typer.main

    root = typer.main.get_command(app)

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                found += walk(sub, [*path, name])
        return found

    for path in walk(root, []):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_version_json() -> None:
    result = runner.invoke(app, ["version", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["clipsearch"]


def test_doctor_reports_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = runner.invoke(app, ["--config", str(config), "doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert {"python", "torch", "faiss", "cpu", "database"} <= set(checks)
    assert checks["database"]["ok"], checks["database"]
    assert result.exit_code == 0


def test_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[server]\nport = 'x'\n")
    result = runner.invoke(app, ["--config", str(config), "doctor"])
    assert result.exit_code == 78
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "server.port" in lines[0]


def test_help_is_fast_and_imports_no_torch() -> None:
    code = "import sys; from clipsearch.cli import app; print(any(m in sys.modules for m in ('torch','faiss','grpc','av','open_clip')))"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "clipsearch.cli", "--help"], capture_output=True, check=True, env=env
    )
    assert time.perf_counter() - start < 3.0  # generous for a loaded CI box; ~0.4 s measured


def test_os_errors_are_one_line_with_ex_ioerr(tmp_path: Path) -> None:
    # A config naming a data dir under a regular file: creating the database folder fails with an OSError.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{blocker / "data"}"\n')
    result = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 74, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
