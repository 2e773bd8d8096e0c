"""The lifecycle commands through typer's runner and as real processes: output, --json, exit codes."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.lifecycle.leases import HeldLease, make_holder, rebuild_lease_name
from clipsearch.storage.db import Database

from .conftest import write_images

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, tiny_model: Path) -> Path:
    write_images(tmp_path / "photos", 8)
    path = tmp_path / "clipsearch.toml"
    path.write_text(
        f"""
data_dir = "data"

[spaces.default]
model = "local-dir:{tiny_model}"
precision = "fp32"
backend = "torch"

[collections.photos]
spaces = ["default"]
index = "Flat"
sources = [{{ path = "photos" }}]

[indexer]
decode_workers = 1

[scheduler]
lease_seconds = 30
misfire_grace_seconds = 5
""",
        encoding="utf-8",
    )
    return path


def _cli(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(config), *args])


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_rebuild_versions_and_status_commands(config: Path, tmp_path: Path) -> None:
    first = _json(_cli(config, "rebuild", "photos", "--json"))
    assert first["outcome"] == "rebuilt" and first["details"]["built"][0]["ntotal"] == 8
    assert _json(_cli(config, "rebuild", "photos", "--json"))["outcome"] == "up_to_date"
    human = _cli(config, "rebuild", "photos", "--force")
    assert human.exit_code == 0 and "photos: rebuilt" in human.stdout and "default/item v2" in human.stdout

    listed = _json(_cli(config, "versions", "list", "photos", "--json"))
    assert [(v["version"], v["status"]) for v in listed] == [(2, "active"), (1, "retired")]
    table = _cli(config, "versions", "list", "photos")
    assert table.exit_code == 0 and "active" in table.stdout

    moved = _json(_cli(config, "versions", "activate", "photos", "1", "--json"))
    assert (moved["activated"]["version"], moved["previous"]["version"]) == (1, 2)
    nothing_older = _cli(config, "versions", "rollback", "photos")
    assert nothing_older.exit_code == 75 and "no earlier" in nothing_older.output
    assert _cli(config, "versions", "activate", "photos", "--id", str(listed[0]["id"])).exit_code == 0
    (back,) = _json(_cli(config, "versions", "rollback", "photos", "--json"))
    assert back["version"] == 1
    assert _cli(config, "versions", "activate", "photos", "9").exit_code == 66

    gc = _json(_cli(config, "versions", "gc", "photos", "--keep", "1", "--min-age", "0", "--json"))
    assert gc["photos"]["deleted"] == [] and gc["photos"]["kept"] == 2  # v1 active, v2 the rollback target

    status = _json(_cli(config, "status", "--json"))
    (photos,) = status["collections"]
    assert photos["assets"]["indexed"] == 8
    assert [(v["space"], v["version"]) for v in photos["active_versions"]] == [("default", 1)]
    # Each rebuild records its job and, inside it, the indexer's run job.
    assert [j["kind"] for j in photos["last_jobs"]][:4] == ["index", "rebuild", "index", "rebuild"]
    screen = _cli(config, "status")
    assert screen.exit_code == 0 and "photos" in screen.stdout and "v1" in screen.stdout


def test_rebuild_exits_75_while_another_holds_the_lease(config: Path, tmp_path: Path) -> None:
    assert _cli(config, "status", "--json").exit_code == 0  # creates the schema
    db = Database(f"sqlite:///{tmp_path / 'data' / 'clipsearch.db'}")
    with HeldLease(db, rebuild_lease_name("photos"), make_holder("cron"), 30.0):
        held = _cli(config, "rebuild", "photos")
    assert held.exit_code == 75 and "held by cron@" in held.output
    assert _cli(config, "rebuild", "nope").exit_code == 66
    db.dispose()


def test_schedule_add_list_remove_and_bad_input(config: Path) -> None:
    added = _json(_cli(config, "schedule", "add", "photos", "--every", "2s", "--json"))
    assert added["cron"] == "@every 2s" and added["next_fire_at"]
    replaced = _json(_cli(config, "schedule", "add", "photos", "--cron", "*/5 * * * *", "--json"))
    assert replaced["id"] == added["id"] and replaced["cron"] == "*/5 * * * *"
    listed = _json(_cli(config, "schedule", "list", "--json"))
    assert [(s["collection"], s["cron"]) for s in listed] == [("photos", "*/5 * * * *")]
    assert _cli(config, "schedule", "add", "photos", "--cron", "99 * * * *").exit_code == 64
    assert _cli(config, "schedule", "add", "photos").exit_code == 64
    assert _cli(config, "schedule", "add", "nope", "--every", "1m").exit_code == 66
    assert _cli(config, "schedule", "remove", "photos").exit_code == 0
    assert _cli(config, "schedule", "remove", "photos").exit_code == 66
    assert _json(_cli(config, "schedule", "list", "--json")) == []


FIRES = re.compile(r"schedule (\d+) fires: rebuild photos \(slot ([^)]+)\)")


def test_two_scheduler_processes_fire_each_slot_once_and_stop_on_sigterm(
    config: Path, tmp_path: Path
) -> None:
    """Real processes: two `schedule run` on one database; every second is one slot."""
    assert _cli(config, "schedule", "add", "photos", "--cron", "* * * * * *").exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "clipsearch",
        "--config",
        str(config),
        "-v",
        "schedule",
        "run",
        "--poll",
        "0.2",
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        time.sleep(12)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    slots = [slot for _, err in outputs for _, slot in FIRES.findall(err)]
    assert len(slots) >= 3, [err[-2000:] for _, err in outputs]
    assert len(slots) == len(set(slots)), "a slot fired twice"
    assert all("scheduler stopped" in err for _, err in outputs)

    status = _json(_cli(config, "status", "--jobs", "100", "--json"))
    rebuilds = [j for j in status["collections"][0]["last_jobs"] if j["kind"] == "rebuild"]
    assert rebuilds and all(j["state"] == "succeeded" for j in rebuilds)
    assert {j["details"]["outcome"] for j in rebuilds} <= {"rebuilt", "up_to_date"}
    spans = sorted((j["started_at"], j["ended_at"]) for j in rebuilds)
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))
