"""`python -m clipsearch.demo` end to end in a subprocess: generate, index, serve, query, shut down."""

from __future__ import annotations

import json
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


def _val_r1(model: str, key: str) -> float:
    training = json.loads((SHAPES_MODELS_DIR / model / "training.json").read_text(encoding="utf-8"))
    return float(training["metrics"][key])


@pytest.mark.slow
def test_demo_with_the_shapes_models_serves_them_as_well_as_they_validated(tmp_path: Path) -> None:
    """Through index + gRPC the trained models must reach about the recall@1 they reached in training.

    The bar is the model's own validation figure (`training.json`) minus a margin for the demo's
    different gallery (held-out colour×shape pairs, long scenes as distractors), so the test keeps
    meaning the same thing while the shapes models are retrained.
    """
    if not (SHAPES_MODELS_DIR / "shapes-base" / "training.json").is_file():
        pytest.skip(f"the shapes-world models are not in {SHAPES_MODELS_DIR} (make models)")
    result = _demo("--out", str(tmp_path / "demo"))
    output = result.stdout
    assert "[7/7]" in output and "stopped cleanly" in output, output + result.stderr
    recall = {kind: right / total for kind, (right, total) in _recall(output).items()}
    floors = {
        "text → image": _val_r1("shapes-base", "val_t2i_r1_en") - 0.2,
        "German text → image": _val_r1("shapes-multilingual", "val_t2i_r1_de") - 0.2,
        "long text → image": _val_r1("shapes-long", "val_long_t2i_r1") - 0.2,
        "image → text": _val_r1("shapes-base", "val_t2i_r1_en") - 0.2,
        "image → image (a resized JPEG copy)": 0.9,
        "text → video (with the moment)": 0.25,  # chance is 1/6 for the right clip alone
    }
    for kind, floor in floors.items():
        assert recall[kind] >= floor, (kind, recall[kind], floor)
    # The exit status says whether every showcase query was right, and the marks agree with it.
    right = sum(f"✓ {kind}" in output for kind in KINDS)
    assert f"{right}/{len(KINDS)} showcase queries answered right" in output
    assert result.returncode == (0 if right == len(KINDS) else 1)
