"""A zoo model's architecture with random weights, saved to a file: what the benches use for a
production-sized model here, where pretrained weights cannot be downloaded. A file (not weights made
in memory) so that a server started by a bench loads exactly the same weights."""

from __future__ import annotations

from pathlib import Path


def save_random_weights(model: str, path: Path, seed: int = 0) -> Path:
    """Write `model`'s state dict with seeded random weights to `path` (safetensors); returns `path`."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    created = open_clip.create_model(model)
    save_file({k: v.contiguous() for k, v in created.state_dict().items()}, str(path))
    return path
