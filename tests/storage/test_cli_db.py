"""`clipsearch db …` through typer's runner and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.storage import migrate

runner = CliRunner()


def test_upgrade_current_history(db_url: str, tmp_path: Path) -> None:
    env = {"CLIPSEARCH_DATABASE__URL": db_url, "CLIPSEARCH_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["db", "current", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["current"] == [] and not json.loads(result.output)["up_to_date"]
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"(empty) -> {migrate.head()}" in result.output
    result = runner.invoke(app, ["db", "current", "--json"], env=env)
    assert json.loads(result.output) | {"url": ""} == {
        "url": "",
        "current": [migrate.head()],
        "head": migrate.head(),
        "up_to_date": True,
    }
    result = runner.invoke(app, ["db", "history"], env=env)
    assert result.exit_code == 0 and f"-> {migrate.head()} (head)" in result.output
    assert "<base> -> 0001" in result.output  # the whole chain, newest first


def test_default_sqlite_database_in_data_dir_via_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "CLIPSEARCH_DATA_DIR": str(tmp_path / "data")}
    env.pop("CLIPSEARCH_DATABASE__URL", None)
    env.pop("CLIPSEARCH_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "clipsearch", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "clipsearch.db").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "clipsearch", "db", "current"],
        cwd=tmp_path,
        env={**env, "CLIPSEARCH_DATABASE__URL": "mysql://nobody@localhost/x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 64 and "unsupported database" in bad.stderr
