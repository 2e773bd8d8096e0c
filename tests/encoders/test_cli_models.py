"""`clipsearch models …` through typer's runner, on a config whose spaces are tiny local models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clipsearch.cli import app

runner = CliRunner()


@pytest.fixture()
def config(tmp_path: Path, tiny_base: Path, tiny_long: Path) -> Path:
    path = tmp_path / "clipsearch.toml"
    path.write_text(
        f"""data_dir = "{tmp_path / "data"}"
[spaces.default]
model = "local-dir:{tiny_base}"
precision = "bf16"
backend = "torch"
[spaces.long]
model = "local-dir:{tiny_long}"
role = "long"
[spaces.broken]
model = "ViT-B-32"
pretrained = "{tmp_path / "missing.safetensors"}"
"""
    )
    return path


def test_list_shows_spaces_and_presence(config: Path) -> None:
    result = runner.invoke(app, ["--config", str(config), "models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["space"]: r for r in json.loads(result.output)}
    assert (
        rows["default"]["present"]
        and rows["default"]["dim"] == 32
        and rows["default"]["context_length"] == 77
    )
    assert rows["long"]["context_length"] == 248 and rows["long"]["role"] == "long"
    assert not rows["broken"]["present"] and "missing.safetensors" in rows["broken"]["problem"]
    table = runner.invoke(app, ["--config", str(config), "models", "list"])
    assert table.exit_code == 0 and "default" in table.output


def test_info_reports_model_facts(config: Path) -> None:
    result = runner.invoke(app, ["--config", str(config), "models", "info", "long", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["dim"] == 32 and payload["context_length"] == 248
    assert payload["parameters"] > 1_000_000 and payload["fingerprint"].startswith("fp1-")


def test_verify_checks_parity(config: Path) -> None:
    result = runner.invoke(app, ["--config", str(config), "models", "verify", "default", "--json"])
    assert result.exit_code == 0, result.output
    # stdout alone: where bf16 is emulated a warning says so on stderr.
    payload = json.loads(result.stdout)
    assert payload["ok"] and payload["precision"] == "bf16" and payload["image_cosine_to_fp32"] >= 0.999


def test_missing_weights_exit_with_one_line_error(config: Path) -> None:
    result = runner.invoke(app, ["--config", str(config), "models", "verify", "broken"])
    assert result.exit_code == 69
    assert "missing.safetensors" in result.output
    result = runner.invoke(app, ["--config", str(config), "models", "info", "nope"])
    assert result.exit_code == 66 and "unknown space" in result.output


def test_pull_offline_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[spaces.default]\nmodel = "hf-hub:clipsearch/definitely-not-cached"\n')
    result = runner.invoke(app, ["--config", str(path), "models", "pull", "default"])
    assert result.exit_code == 69
    assert "hf-hub:clipsearch/definitely-not-cached" in result.output
