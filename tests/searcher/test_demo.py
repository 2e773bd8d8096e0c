"""`python -m clipsearch.demo` end to end in a subprocess: generate, index, serve, query, shut down."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clipsearch.config import SHAPES_MODELS_DIR
from helpers.tiny_models import write_tiny_model

KINDS = (
    "text → image",
    "German text → image",
    "long text → image",
    "text → video (with the moment)",
    "image → image (a resized JPEG copy)",
    "image → text",
)


def _demo(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "clipsearch.demo", "--small", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _recall(output: str) -> dict[str, tuple[int, int]]:
    found = {}
    for kind in KINDS:
        match = re.search(re.escape(kind) + r"\s+(\d+)/(\d+)", output)
        assert match, f"no recall line for {kind!r}:\n{output}"
        found[kind] = (int(match.group(1)), int(match.group(2)))
    return found


def test_missing_models_stop_the_demo_at_the_first_step(tmp_path: Path) -> None:
    result = _demo("--models", str(tmp_path / "nothing"), "--out", str(tmp_path / "demo"), timeout=60)
    assert result.returncode != 0
    assert "demo failed at step 'models'" in result.stderr
    assert "shapes-base, shapes-long, shapes-multilingual" in result.stderr
    assert not (tmp_path / "demo" / "corpus").exists()


@pytest.mark.slow
def test_demo_runs_every_step_with_untrained_models_and_marks_wrong_answers(tmp_path: Path) -> None:
    models = tmp_path / "models"
    write_tiny_model(models / "shapes-base", "base", dtype="float32")
    write_tiny_model(models / "shapes-long", "long", dtype="float32")
    write_tiny_model(models / "shapes-multilingual", "multilingual", dtype="float32")
    result = _demo("--models", str(models), "--out", str(tmp_path / "demo"))
    output = result.stdout
    for step in range(1, 8):
        assert f"[{step}/7]" in output, output + result.stderr
    assert "stopped cleanly" in output
    # Random weights cannot answer caption queries, and the demo must say so (exit 1, ✗ marks) …
    assert result.returncode == 1, output + result.stderr
    assert "✗ text → image" in output
    # … while a near-duplicate image still finds its original, marked ✓.
    assert "✓ image → image" in output
    recall = _recall(output)
    right, total = recall["image → image (a resized JPEG copy)"]
    assert right == total > 0
    assert recall["text → image"][0] < recall["text → image"][1]
    assert "space multilingual (language), language de" in output
    assert "space long (long_text)" in output


@pytest.mark.slow
def test_demo_with_the_shapes_models_answers_every_showcase_query(tmp_path: Path) -> None:
    if not (SHAPES_MODELS_DIR / "shapes-base" / "open_clip_config.json").is_file():
        pytest.skip(f"the shapes-world models are not in {SHAPES_MODELS_DIR} (make models)")
    result = _demo("--out", str(tmp_path / "demo"))
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for kind in KINDS:
        assert f"✓ {kind}" in output
    recall = _recall(output)
    for kind, (right, total) in recall.items():
        assert right / total >= 0.5, (kind, right, total)
