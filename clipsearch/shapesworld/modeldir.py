"""The on-disk model format shared with the encoders: an open_clip `local-dir:` directory.

    <model>/open_clip_config.json        {"model_cfg": {...}, "preprocess_cfg": {...}}
    <model>/open_clip_model.safetensors  fp16 weights (open_clip state-dict names)
    <model>/tokenizer.json, tokenizer_config.json
    <model>/text-tower/config.json       only for HF text towers (XLM-R style)
    <model>/training.json                recipe and metrics of the run that made it

Local paths inside `text_cfg` (`hf_tokenizer_name`, `hf_model_name`) are stored relative to the
model directory; `resolved_text_cfg` turns them into absolute paths before open_clip sees them.
The tokenizer files sit at the directory root because open_clip's `get_tokenizer("local-dir:…")`
always reads the tokenizer from there.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipsearch.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CONFIG_NAME = "open_clip_config.json"
WEIGHTS_NAME = "open_clip_model.safetensors"
TRAINING_NAME = "training.json"
_PATH_KEYS = ("hf_tokenizer_name", "hf_model_name")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """An open_clip model in eval mode with its image transform and tokenizer."""

    model: Any
    preprocess: Any
    tokenizer: Any
    context_length: int
    path: Path


def read_config(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG_NAME
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailable(
            f"no {CONFIG_NAME} in {model_dir}; regenerate the shapes models with `make models`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelUnavailable(f"{path} is not valid JSON: {exc}") from None
    if "model_cfg" not in config:
        raise ModelUnavailable(f"{path} has no 'model_cfg'")
    return config


def resolved_text_cfg(model_dir: Path, text_cfg: dict[str, Any]) -> dict[str, Any]:
    """`text_cfg` with its local paths made absolute against the model directory."""
    out = dict(text_cfg)
    for key in _PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            candidate = (Path(model_dir) / value).resolve()
            if candidate.exists():
                out[key] = str(candidate)
    if "hf_model_name" in out:
        # The weights come from the CLIP checkpoint; never ask the hub for base text weights.
        out["hf_model_pretrained"] = False
    return out


def load_model_dir(model_dir: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a shapes-format (or any `local-dir:`) model with open_clip, relative paths resolved."""
    import open_clip

    model_dir = Path(model_dir).resolve()
    config = read_config(model_dir)
    text_cfg = resolved_text_cfg(model_dir, config["model_cfg"].get("text_cfg", {}))
    model, _, preprocess = open_clip.create_model_and_transforms(
        f"local-dir:{model_dir}", device=device, pretrained_text=False, text_cfg=text_cfg
    )
    model.eval()
    context_length = int(text_cfg.get("context_length", 77))
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}", context_length=context_length)
    return LoadedModel(model, preprocess, tokenizer, context_length, model_dir)


def save_model_dir(
    model: torch.nn.Module,
    out_dir: Path,
    model_cfg: dict[str, Any],
    preprocess_cfg: dict[str, Any],
    training: dict[str, Any],
) -> None:
    """Write config, fp16 weights and training record; tokenizer files are written by the caller."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}
    (out_dir / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_NAME), metadata={"format": "pt"})
    (out_dir / TRAINING_NAME).write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
    log.info("saved %s (%d tensors)", out_dir, len(state))
