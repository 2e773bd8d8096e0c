"""Read weights files and bring third-party layouts (Long-CLIP) into open_clip's key layout.

We load checkpoints ourselves instead of through `open_clip.load_checkpoint` for one reason: open_clip
silently interpolates a text positional embedding whose length differs from the model's context,
which would quietly turn a 248-token Long-CLIP model into a broken 77-token one. Here a mismatch is
an error, and the context length follows the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from clipsearch.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch

LONGCLIP_KEY = "positional_embedding_res"
#: Long-CLIP keeps the first 20 positions of the original embedding and trains the rest (`_res`).
LONGCLIP_KEPT_POSITIONS = 20
# OpenAI-style state dicts may carry these non-tensor build hints.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from .safetensors/.pt/.bin (wrappers and `module.` prefixes removed)."""
    from open_clip.factory import load_state_dict

    try:
        state = load_state_dict(str(path), device="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for a bad file
        raise ModelUnavailable(f"cannot read weights file {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not state:
        raise ModelUnavailable(f"weights file {path} holds no state dict")
    return dict(state)


def is_longclip(state: dict[str, torch.Tensor]) -> bool:
    return LONGCLIP_KEY in state


def convert_longclip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Merge Long-CLIP's two positional tables into one (rows < 20 from `pe`, the rest from `pe_res`)."""
    import torch

    if LONGCLIP_KEY not in state or "positional_embedding" not in state:
        raise ModelUnavailable("not a Long-CLIP checkpoint: positional_embedding(_res) missing")
    pe, pe_res = state["positional_embedding"], state[LONGCLIP_KEY]
    if pe.shape != pe_res.shape:
        raise ModelUnavailable(
            f"Long-CLIP checkpoint: positional_embedding {tuple(pe.shape)} and "
            f"positional_embedding_res {tuple(pe_res.shape)} differ"
        )
    merged = torch.cat([pe[:LONGCLIP_KEPT_POSITIONS], pe_res[LONGCLIP_KEPT_POSITIONS:]], dim=0)
    out = {k: v for k, v in state.items() if k != LONGCLIP_KEY and k not in _OPENAI_EXTRA_KEYS}
    out["positional_embedding"] = merged
    return out


def text_positions(state: dict[str, torch.Tensor]) -> int | None:
    """Context length stored in a built-in text transformer's positional embedding (None for HF towers)."""
    for key in ("positional_embedding", "text.positional_embedding"):
        if key in state and state[key].ndim == 2:
            return int(state[key].shape[0])
    return None


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load `state` into an open_clip model, applying open_clip's own layout conversions."""
    import torch
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed

    state = {k: v for k, v in state.items() if k not in _OPENAI_EXTRA_KEYS}
    state = convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        target = getattr(model, key, None)
        if key in state and target is not None and target.ndim != state[key].ndim:
            state[key] = state[key].reshape(target.shape)
    bias = getattr(model, "logit_bias", None)
    if bias is not None and "logit_bias" not in state:
        state["logit_bias"] = torch.zeros_like(bias)
    state.pop("text.transformer.embeddings.position_ids", None)
    _check_text_positions(model, state, source)
    resize_pos_embed(state, model)  # image grid only; a no-op when sizes match
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ModelUnavailable(
            f"weights in {source} do not fit the architecture: {' '.join(first)}"
        ) from None


def _check_text_positions(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    for key in ("positional_embedding", "text.positional_embedding"):
        target = _get(model, key)
        if target is None or key not in state:
            continue
        have, want = int(state[key].shape[0]), int(target.shape[0])
        if have > want:
            # A causal text transformer never looks past its context: dropping rows is exact.
            state[key] = state[key][:want]
        elif have < want:
            raise ModelUnavailable(
                f"weights in {source} have {have} text positions but the space asks for context_length "
                f"{want}; a longer context needs a checkpoint trained for it (e.g. Long-CLIP)"
            )


def _get(model: torch.nn.Module, dotted: str) -> torch.Tensor | None:
    obj: object = model
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    import torch

    return obj if isinstance(obj, torch.Tensor) else None
