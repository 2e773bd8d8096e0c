"""`load_encoder`: a space's settings in, a ready Encoder out (the one entry point)."""

from __future__ import annotations

import logging
from pathlib import Path

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError, ModelUnavailable
from clipsearch.indexer.encoders.build import LoadedModel, build_model, encoder_info
from clipsearch.indexer.encoders.common import BaseEncoder
from clipsearch.indexer.encoders.fingerprint import model_fingerprint
from clipsearch.indexer.encoders.hardware import cpu_has_fast_bf16, resolve_device
from clipsearch.indexer.encoders.parity import MIN_COSINE, measure_parity
from clipsearch.indexer.encoders.resolve import resolve_model
from clipsearch.indexer.encoders.torch_encoder import TorchEncoder

log = logging.getLogger(__name__)


def load_encoder(
    name: str,
    space: SpaceSettings,
    *,
    cache_dir: Path | None = None,
    hub_cache_dir: Path | None = None,
    allow_download: bool = False,
) -> BaseEncoder:
    """Load space `name`.

    cache_dir: where clipsearch keeps exported graphs and backend decisions (keyed by fingerprint);
    None = no on-disk cache (`backend=auto` then stays on PyTorch, which needs no export).
    hub_cache_dir: open_clip / Hugging Face download cache (None = their defaults).
    allow_download: fetch missing weights (only `clipsearch models pull` sets it); otherwise a
    missing file is a ModelUnavailable naming what is missing and how to provide it.
    """
    loaded = load_model(name, space, hub_cache_dir=hub_cache_dir, allow_download=allow_download)
    return encoder_for(name, space, loaded, cache_dir=cache_dir)


def load_model(
    name: str, space: SpaceSettings, *, hub_cache_dir: Path | None = None, allow_download: bool = False
) -> LoadedModel:
    resolved = resolve_model(space, space_name=name, cache_dir=hub_cache_dir, allow_download=allow_download)
    return build_model(resolved, space)


def encoder_for(
    name: str, space: SpaceSettings, loaded: LoadedModel, *, cache_dir: Path | None = None
) -> BaseEncoder:
    """Wrap a loaded fp32 model in the backend/precision the space asks for (or the best one)."""
    device = resolve_device(space.device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ModelUnavailable(f"space '{name}': device '{device}' requested but CUDA is not available")
    fingerprint = model_fingerprint(loaded, space.long_text)
    if device.startswith("cuda"):
        if space.backend == "onnx":
            raise ConfigError(
                f"space '{name}': the onnx backend runs on the CPU; use backend 'torch' on CUDA"
            )
        precision = "fp16" if space.precision == "auto" else space.precision
        return TorchEncoder(
            loaded,
            encoder_info(name, space, loaded, fingerprint, precision, "torch", device),
            space.batch_size,
        )
    if space.precision == "fp16":
        raise ConfigError(f"space '{name}': fp16 needs a GPU; on the CPU use precision 'bf16' (or 'auto')")
    if space.backend in ("onnx", "auto") and cache_dir is not None:
        from clipsearch.indexer.encoders.select import choose_cpu_encoder

        return choose_cpu_encoder(name, space, loaded, fingerprint, cache_dir)
    if space.backend == "onnx":
        raise ConfigError(f"space '{name}': the onnx backend needs a cache directory for its exported graphs")
    return torch_cpu_encoder(name, space, loaded, fingerprint)


def torch_cpu_encoder(name: str, space: SpaceSettings, loaded: LoadedModel, fingerprint: str) -> TorchEncoder:
    if space.precision != "auto":
        info = encoder_info(name, space, loaded, fingerprint, space.precision, "torch", "cpu")
        return TorchEncoder(loaded, info, space.batch_size)
    fp32 = TorchEncoder(
        loaded, encoder_info(name, space, loaded, fingerprint, "fp32", "torch", "cpu"), space.batch_size
    )
    if not cpu_has_fast_bf16():
        return fp32
    bf16 = TorchEncoder(
        loaded,
        encoder_info(name, space, loaded, fingerprint, "bf16", "torch", "cpu"),
        space.batch_size,
        copy_model=True,
    )
    parity = measure_parity(fp32, bf16)
    if parity.worst >= MIN_COSINE["bf16"]:
        return bf16
    log.warning("space %s: bf16 parity %.5f below %.3f; using fp32", name, parity.worst, MIN_COSINE["bf16"])
    return fp32
