"""Recall arithmetic and the model-directory helpers (the model-level floors are in test_shapes_models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clipsearch.errors import InvalidRequest, ModelUnavailable
from clipsearch.shapesworld.modeldir import read_config, resolved_text_cfg
from clipsearch.shapesworld.quality import VideoFrames, recall_at_k


def test_recall_at_k_counts_the_rank_of_each_target() -> None:
    sim = np.array([[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.3, 0.2, 0.1]])
    # ranks of targets 0, 1, 2: 0, 1, 2
    assert recall_at_k(sim, [0, 1, 2], (1, 2, 3)) == {1: 1 / 3, 2: 2 / 3, 3: 1.0}
    assert recall_at_k(sim.T, [0, 0, 0], (1,)) == {1: 1 / 3}
    with pytest.raises(InvalidRequest):
        recall_at_k(sim, [0, 1], (1,))


def test_holistic_vector_is_the_renormalised_mean_of_frames() -> None:
    frames = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    video = VideoFrames(entry=None, times=np.array([0.0, 0.5]), vectors=frames)  # type: ignore[arg-type]
    assert np.allclose(video.holistic, [2**-0.5, 2**-0.5])


def test_relative_text_paths_resolve_against_the_model_dir(tmp_path: Path) -> None:
    (tmp_path / "text-tower").mkdir()
    cfg = resolved_text_cfg(tmp_path, {"hf_model_name": "text-tower", "hf_tokenizer_name": ".", "width": 8})
    assert cfg["hf_model_name"] == str((tmp_path / "text-tower").resolve())
    assert cfg["hf_tokenizer_name"] == str(tmp_path.resolve())
    assert cfg["hf_model_pretrained"] is False and cfg["width"] == 8
    # names that are not local paths (hub ids) stay as they are
    assert (
        resolved_text_cfg(tmp_path, {"hf_model_name": "xlm-roberta-base"})["hf_model_name"]
        == "xlm-roberta-base"
    )


def test_missing_or_broken_model_dirs_raise_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="make models"):
        read_config(tmp_path)
    (tmp_path / "open_clip_config.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="not valid JSON"):
        read_config(tmp_path)
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"preprocess_cfg": {}}))
    with pytest.raises(ModelUnavailable, match="model_cfg"):
        read_config(tmp_path)
