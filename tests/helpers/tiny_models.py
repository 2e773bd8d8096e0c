"""Tiny random-weight open_clip models in `local-dir:` format, written in well under a second.

Three variants mirror the project's spaces:

- ``base``: CLIP-style text transformer with open_clip's 49,408-token BPE, 77-token context;
- ``long``: the same with a 248-token context (a Long-CLIP-shaped space);
- ``multilingual``: an XLM-R-style Hugging Face text tower with a small tokenizer trained on the fly.

``small_vocab=True`` gives base/long a small trained tokenizer instead of the BPE (the built-in text
transformer with `hf_tokenizer_name`, as the shapes-world models do). Paths inside `text_cfg` are
stored relative to the model directory, exactly like the shapes-world models; clipsearch's loader
resolves them.

Usage::

    model_dir = write_tiny_model(tmp_path / "tiny", "base")
    space = SpaceSettings(model=f"local-dir:{model_dir}", precision="fp32", backend="torch")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

TinyKind = Literal["base", "long", "multilingual"]

# A few sentences in four languages so a trained tokenizer has every character it will meet in tests.
_CORPUS = [
    "a red circle on a blue background",
    "a small green square next to a large yellow triangle",
    "two purple stars above an orange hexagon. the picture is bright.",
    "ein roter Kreis auf blauem Hintergrund",
    "un cercle rouge sur un fond bleu",
    "un círculo rojo sobre un fondo azul",
    "zwei kleine grüne Quadrate und ein großes gelbes Dreieck",
    "deux petits carrés verts et un grand triangle jaune",
    "dos cuadrados verdes pequeños y un triángulo amarillo grande",
    "the quick brown fox jumps over the lazy dog 0123456789 !?.,;:'\"()-",
]

_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def tiny_model_cfg(
    kind: TinyKind = "base",
    *,
    embed_dim: int = 32,
    image_size: int = 32,
    context_length: int | None = None,
    vocab_size: int = 49408,
) -> dict[str, Any]:
    """The `model_cfg` of a tiny model (2-layer towers, width 64/32)."""
    vision_cfg = {"image_size": image_size, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32}
    if kind == "multilingual":
        text_cfg: dict[str, Any] = {
            "hf_model_name": "text_tower",
            "hf_tokenizer_name": ".",
            "hf_pooler_type": "mean_pooler",
            "hf_proj_type": "mlp",
            "context_length": context_length or 64,
        }
    else:
        text_cfg = {
            "context_length": context_length or (248 if kind == "long" else 77),
            "vocab_size": vocab_size,
            "width": 32,
            "heads": 2,
            "layers": 2,
        }
    return {"embed_dim": embed_dim, "quick_gelu": True, "vision_cfg": vision_cfg, "text_cfg": text_cfg}


def write_tiny_model(
    out_dir: Path,
    kind: TinyKind = "base",
    *,
    seed: int = 0,
    embed_dim: int = 32,
    image_size: int = 32,
    context_length: int | None = None,
    small_vocab: bool = False,
    dtype: str = "float16",
) -> Path:
    """Write a random-weight open_clip `local-dir:` model to `out_dir` and return `out_dir`."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = 49408
    if kind == "multilingual" or small_vocab:
        vocab_size = _write_tokenizer(out_dir)
    cfg = tiny_model_cfg(
        kind, embed_dim=embed_dim, image_size=image_size, context_length=context_length, vocab_size=vocab_size
    )
    if kind == "multilingual":
        _write_xlmr_config(out_dir / "text_tower", vocab_size, cfg["text_cfg"]["context_length"])
    elif small_vocab:
        # Built-in text transformer with a small tokenizer: pool on the EOS id like the shapes models.
        cfg["text_cfg"].update({"hf_tokenizer_name": ".", "pool_type": "eos", "eos_id": 2, "pad_id": 1})

    build_cfg = json.loads(json.dumps(cfg))
    if kind == "multilingual":
        build_cfg["text_cfg"]["hf_model_name"] = str(out_dir / "text_tower")
        build_cfg["text_cfg"]["hf_model_pretrained"] = False
    torch.manual_seed(seed)
    model_cls = open_clip.CustomTextCLIP if kind == "multilingual" else open_clip.CLIP
    model = model_cls(**build_cfg)
    with torch.no_grad():
        # Random init leaves some of these at zero/one; perturb them so every weight matters.
        for name, param in model.named_parameters():
            if name.endswith("positional_embedding") or "class_embedding" in name:
                param.normal_(std=0.1)
    state = {k: v.detach().to(getattr(torch, dtype)).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"))
    preprocess_cfg = {
        "size": image_size,
        "mode": "RGB",
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
    config = {"model_cfg": cfg, "preprocess_cfg": preprocess_cfg}
    (out_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out_dir


def _write_tokenizer(out_dir: Path) -> int:
    """Train a small XLM-R-style Unigram tokenizer and save it in Hugging Face format."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=_SPECIALS, unk_token="<unk>")
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
    )
    fast.save_pretrained(str(out_dir))
    return int(tokenizer.get_vocab_size())


def _write_xlmr_config(tower_dir: Path, vocab_size: int, context_length: int) -> None:
    from transformers import XLMRobertaConfig

    XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        # XLM-R positions start after the pad id, so the table needs context + 2 rows.
        max_position_embeddings=context_length + 2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
    ).save_pretrained(str(tower_dir))
