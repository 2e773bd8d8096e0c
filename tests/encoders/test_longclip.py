"""Long-CLIP checkpoints: key layout conversion and parity with Long-CLIP's own text forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError
from clipsearch.indexer.encoders import load_encoder
from helpers.tiny_models import tiny_model_cfg

LONG = 248


@pytest.fixture(scope="module")
def longclip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A random checkpoint in Long-CLIP's layout for a tiny `*-quickgelu` architecture."""
    import open_clip

    root = tmp_path_factory.mktemp("longclip")
    arch = "clipsearch-test-tinylong-quickgelu"
    (root / f"{arch}.json").write_text(json.dumps(tiny_model_cfg("base")))  # a 77-token zoo config
    open_clip.add_model_config(root / f"{arch}.json")
    cfg = tiny_model_cfg("base", context_length=LONG)
    torch.manual_seed(5)
    state = open_clip.CLIP(**cfg).state_dict()
    # Long-CLIP: `positional_embedding` (frozen, stretched) and `positional_embedding_res` (trained).
    state["positional_embedding"] = torch.randn(LONG, 32) * 0.2
    state["positional_embedding_res"] = torch.randn(LONG, 32) * 0.2
    state["text_projection"] = torch.randn(32, 32) * 0.2
    path = root / "longclip-tiny.pt"
    torch.save(state, path)
    return arch, path


def _attention_block(
    x: torch.Tensor, sd: dict[str, torch.Tensor], p: str, heads: int, mask: torch.Tensor
) -> torch.Tensor:
    def ln(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(t, t.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"])

    n, length, width = x.shape
    h = ln(x, f"{p}.ln_1")
    q, k, v = (h @ sd[f"{p}.attn.in_proj_weight"].T + sd[f"{p}.attn.in_proj_bias"]).split(width, dim=-1)
    q, k, v = (t.reshape(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-1, -2)) / (width // heads) ** 0.5 + mask
    out = (att.softmax(-1) @ v).transpose(1, 2).reshape(n, length, width)
    x = x + out @ sd[f"{p}.attn.out_proj.weight"].T + sd[f"{p}.attn.out_proj.bias"]
    h = ln(x, f"{p}.ln_2") @ sd[f"{p}.mlp.c_fc.weight"].T + sd[f"{p}.mlp.c_fc.bias"]
    h = h * torch.sigmoid(1.702 * h)  # QuickGELU
    return x + h @ sd[f"{p}.mlp.c_proj.weight"].T + sd[f"{p}.mlp.c_proj.bias"]


def longclip_encode_text(
    sd: dict[str, torch.Tensor], tokens: torch.Tensor, layers: int = 2, heads: int = 2
) -> torch.Tensor:
    """Long-CLIP's `encode_text`: pe on rows 0-19 (mask1), pe_res on rows 20-247 (mask2)."""
    mask1 = torch.zeros(LONG, 1)
    mask1[:20] = 1
    mask2 = 1 - mask1
    x = sd["token_embedding.weight"][tokens]
    x = x + sd["positional_embedding"] * mask1 + sd["positional_embedding_res"] * mask2
    causal = torch.full((LONG, LONG), float("-inf")).triu(1)
    for i in range(layers):
        x = _attention_block(x, sd, f"transformer.resblocks.{i}", heads, causal)
    x = F.layer_norm(x, x.shape[-1:], sd["ln_final.weight"], sd["ln_final.bias"])
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ sd["text_projection"]


def test_longclip_text_matches_reference_forward(longclip_checkpoint: tuple[str, Path]) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    arch, path = longclip_checkpoint
    enc = load_encoder(
        "long", SpaceSettings(model=arch, pretrained=str(path), precision="fp32", backend="torch")
    )
    assert enc.info.context_length == LONG
    long_caption = " ".join(f"shape number {i} is a red circle." for i in range(20))  # ~180 tokens
    texts = ["a red circle", long_caption, " ".join(["word"] * 400)]
    tokens = SimpleTokenizer(context_length=LONG)(texts)
    state = torch.load(path, weights_only=True)
    with torch.no_grad():
        ref = F.normalize(longclip_encode_text(state, tokens), dim=-1).numpy()
    result = enc.encode_texts_detailed(texts)
    assert np.abs(result.vectors - ref).max() <= 1e-5
    assert 77 < enc.count_tokens(long_caption) <= LONG
    assert result.truncated == (False, False, True)  # 180 tokens fit a long space; 400 do not


def test_longclip_detected_or_demanded(longclip_checkpoint: tuple[str, Path], tiny_base: Path) -> None:
    arch, path = longclip_checkpoint
    explicit = load_encoder(
        "long",
        SpaceSettings(model=arch, pretrained=str(path), checkpoint_format="longclip", precision="fp32"),
    )
    assert explicit.info.context_length == LONG
    with pytest.raises(ConfigError, match="not a Long-CLIP"):
        load_encoder(
            "long",
            SpaceSettings(model=f"local-dir:{tiny_base}", checkpoint_format="longclip", precision="fp32"),
        )


def test_production_longclip_architectures_exist() -> None:
    import open_clip

    for name in ("ViT-B-16-quickgelu", "ViT-L-14-quickgelu"):
        cfg = open_clip.get_model_config(name)
        assert cfg is not None and cfg["quick_gelu"] is True
        assert cfg["text_cfg"]["context_length"] == 77  # our loader stretches it to the checkpoint's 248
