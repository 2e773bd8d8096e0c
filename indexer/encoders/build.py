"""Build the fp32 PyTorch model, its image transform and tokenizer from a resolved model.

The architecture is instantiated from the (path-resolved) config directly rather than via
`open_clip.create_model`, because a `local-dir:` config may hold relative paths open_clip would
resolve against the working directory; the classes, transforms and weight conversions are open_clip's.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError, ModelUnavailable
from clipsearch.indexer.encoders.base import EncoderInfo
from clipsearch.indexer.encoders.checkpoint import (
    convert_longclip,
    is_longclip,
    load_into,
    read_state_dict,
    text_positions,
)
from clipsearch.indexer.encoders.tokenize import TextTokenizer, build_tokenizer

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from clipsearch.indexer.encoders.resolve import ResolvedModel

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_LENGTH = 77
# XLM-R/RoBERTa position ids start after the padding id, so two rows of the table are unusable.
_OFFSET_POSITION_MODELS = ("roberta", "xlm-roberta", "camembert")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """An fp32 open_clip model in eval mode on the CPU, with what it needs to encode."""

    resolved: ResolvedModel
    model: torch.nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    tokenizer: TextTokenizer
    context_length: int
    dim: int
    image_size: tuple[int, int]
    checkpoint_format: str
    #: sha256 over the loaded fp32 parameters (names, shapes, values).
    weights_digest: str
    #: the final model_cfg (context length applied) and preprocessing config.
    model_cfg: dict[str, Any]
    preprocess_cfg: dict[str, Any]

    @property
    def param_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def build_model(resolved: ResolvedModel, space: SpaceSettings) -> LoadedModel:
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    state = read_state_dict(resolved.checkpoint) if resolved.checkpoint else None
    checkpoint_format = _checkpoint_format(space, state, resolved)
    if state is not None and checkpoint_format == "longclip":
        state = convert_longclip(state)

    cfg = copy.deepcopy(dict(resolved.model_cfg))
    text_cfg = cfg.setdefault("text_cfg", {})
    is_hf_text = bool(text_cfg.get("hf_model_name"))
    stored = text_positions(state) if state is not None and not is_hf_text else None
    context_length = (
        space.context_length or stored or int(text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH))
    )
    text_cfg["context_length"] = context_length
    if is_hf_text:
        # Full CLIP weights come from our checkpoint; never let transformers fetch tower weights.
        text_cfg["hf_model_pretrained"] = False
    vision_cfg = cfg.get("vision_cfg") or {}
    if "timm_model_name" in vision_cfg:
        vision_cfg["timm_model_pretrained"] = False

    custom_text = bool(cfg.pop("custom_text", False)) or is_hf_text
    model_cls: Any = open_clip.CLIP
    if "multimodal_cfg" in cfg:
        model_cls = open_clip.CoCa
    elif custom_text:
        model_cls = open_clip.CustomTextCLIP
    try:
        model = model_cls(**cfg)
    except (OSError, ValueError) as exc:
        # Typically a Hugging Face tower config that is neither a local directory nor cached.
        raise ModelUnavailable(
            f"model '{resolved.name}' cannot be built offline: {_first_line(exc)}"
        ) from None
    if state is not None:
        load_into(model, state, str(resolved.checkpoint))
    model.eval()
    model.requires_grad_(False)
    if is_hf_text:
        _check_hf_context(model, context_length, resolved.name)

    image_size = _pair(getattr(model.visual, "image_size", resolved.preprocess_cfg.get("size", 224)))
    preprocess_cfg = dict(resolved.preprocess_cfg)
    preprocess_cfg["size"] = image_size
    open_clip.set_model_preprocess_cfg(model, preprocess_cfg)
    transform = image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)
    tokenizer = build_tokenizer(resolved, context_length, space.language)
    with torch.no_grad():
        digest = weights_digest(model)
    return LoadedModel(
        resolved=resolved,
        model=model,
        transform=transform,
        tokenizer=tokenizer,
        context_length=context_length,
        dim=int(cfg["embed_dim"]),
        image_size=image_size,
        checkpoint_format=checkpoint_format,
        weights_digest=digest,
        model_cfg=cfg,
        preprocess_cfg=preprocess_cfg,
    )


def weights_digest(model: torch.nn.Module) -> str:
    """Stable digest of every parameter and buffer (independent of the file format they came from)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().to("cpu")
        if value.is_floating_point():
            value = value.to(torch.float32)
        h.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        h.update(value.contiguous().numpy().tobytes())
    return h.hexdigest()


def _checkpoint_format(space: SpaceSettings, state: dict[str, Any] | None, resolved: ResolvedModel) -> str:
    if space.checkpoint_format == "auto":
        return "longclip" if state is not None and is_longclip(state) else "open_clip"
    if space.checkpoint_format == "longclip" and (state is None or not is_longclip(state)):
        raise ConfigError(
            f"model '{resolved.name}': checkpoint_format = 'longclip' but {resolved.checkpoint or 'no weights'} "
            "has no positional_embedding_res (not a Long-CLIP checkpoint)"
        )
    return space.checkpoint_format


def _check_hf_context(model: torch.nn.Module, context_length: int, name: str) -> None:
    config = getattr(getattr(model, "text", None), "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return
    usable = positions - 2 if getattr(config, "model_type", "") in _OFFSET_POSITION_MODELS else positions
    if context_length > usable:
        raise ConfigError(
            f"model '{name}': context_length {context_length} exceeds what its text tower supports ({usable})"
        )


def _pair(size: Any) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def encoder_info(
    name: str,
    space: SpaceSettings,
    loaded: LoadedModel,
    fingerprint: str,
    precision: str,
    backend: str,
    device: str,
) -> EncoderInfo:
    """What a loaded space is, for one precision/backend/device choice."""
    return EncoderInfo(
        space=name,
        model=space.model,
        pretrained=space.pretrained or loaded.resolved.weights_source,
        dim=loaded.dim,
        context_length=loaded.context_length,
        precision=precision,
        backend=backend,
        device=device,
        fingerprint=fingerprint,
        role=space.role,
        languages=tuple(space.languages),
        long_text=space.long_text,
    )
