#!/usr/bin/env python3
"""Train the three shapes-world CLIP models into `models/` (reproducible, CPU, ~30 min on 2 cores).

    python tools/train_shapes.py --out models              # full recipe (`make models`)
    python tools/train_shapes.py --out /tmp/m --quick      # a couple of minutes, for smoke runs

shapes-base        open_clip CLIP (ViT 64 px / patch 8, text transformer, context 77) trained from
                   scratch with the symmetric InfoNCE loss on English short captions plus long
                   captions truncated at 77 tokens (as CLIP itself saw long text).
shapes-long        shapes-base with its text positional embedding stretched 77 -> 248 the Long-CLIP
                   way (keep 20, interpolate x4), fine-tuned on full long captions + short captions.
shapes-multilingual  open_clip CustomTextCLIP with an HF XLM-R-style text tower (Unigram tokenizer on
                   en/de/fr/es), image tower copied from shapes-base and locked (LiT), text tower
                   trained on captions in all four languages.

Images are rendered once into memory (uint8, 64 px after the model's own preprocess), captions are
tokenized once with the saved tokenizers, and each text batch is cut to its longest caption (exact
for the causal text transformer: tokens after `</s>` cannot influence the `</s>` position).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from clipsearch.shapesworld.captions import LANGUAGES, long_caption, short_caption  # noqa: E402
from clipsearch.shapesworld.longclip import KEEP_POSITIONS, stretch_positions  # noqa: E402
from clipsearch.shapesworld.modeldir import load_model_dir, save_model_dir  # noqa: E402
from clipsearch.shapesworld.scene import (  # noqa: E402
    Scene,
    render_scene,
    sample_long_family,
    sample_split_scene,
)
from clipsearch.shapesworld.textvocab import unigram_tokenizer, word_tokenizer  # noqa: E402

log = logging.getLogger("train_shapes")

IMAGE_SIZE = 64
RENDER_SIZE = 128
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
EMBED_DIM = 128
PREPROCESS_CFG = {
    "size": IMAGE_SIZE,
    "mean": list(MEAN),
    "std": list(STD),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}
VISION_CFG = {
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "width": 128,
    "layers": 3,
    "head_width": 32,
    "mlp_ratio": 4.0,
}
LONG_CONTEXT = 248


@dataclass(frozen=True, slots=True)
class Recipe:
    seed: int
    short_scenes: int
    long_families: int
    family_size: int
    base_steps: int
    long_steps: int
    multi_steps: int
    batch: int
    val_images: int
    val_families: int


FULL = Recipe(
    seed=7,
    short_scenes=16000,
    long_families=400,
    family_size=4,
    base_steps=540,
    long_steps=120,
    multi_steps=500,
    batch=128,
    val_images=200,
    val_families=10,
)
QUICK = Recipe(
    seed=7,
    short_scenes=3000,
    long_families=100,
    family_size=4,
    base_steps=60,
    long_steps=20,
    multi_steps=60,
    batch=128,
    val_images=100,
    val_families=5,
)


# --------------------------------------------------------------------------------------------- data
@dataclass
class Data:
    short_scenes: list[Scene]
    long_scenes: list[Scene]
    short_pixels: torch.Tensor  # uint8 N×3×64×64
    long_pixels: torch.Tensor


def render_pixels(scenes: list[Scene]) -> torch.Tensor:
    """Scenes as uint8 tensors exactly as the model's preprocess would see their 128 px renders."""
    import open_clip

    transform = open_clip.image_transform(
        IMAGE_SIZE, is_train=False, mean=MEAN, std=STD, interpolation="bicubic"
    )
    out = torch.empty((len(scenes), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
    for i, scene in enumerate(scenes):
        normalised = transform(render_scene(scene, RENDER_SIZE))
        out[i] = ((normalised * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)
    return out


def to_input(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels.float() / 255.0 - 0.5) / 0.5


def make_data(recipe: Recipe) -> Data:
    rng = random.Random(recipe.seed)
    short = [sample_split_scene(rng, "train") for _ in range(recipe.short_scenes)]
    longs = [
        s for _ in range(recipe.long_families)
        for s in sample_long_family(rng, recipe.family_size, allow_held_out=False)
    ]  # fmt: skip
    t0 = time.time()
    data = Data(short, longs, render_pixels(short), render_pixels(longs))
    log.info("rendered %d short + %d long training images in %.1fs", len(short), len(longs), time.time() - t0)
    return data


def make_validation(recipe: Recipe) -> tuple[list[Scene], list[Scene]]:
    rng = random.Random(recipe.seed + 1000)
    short = [sample_split_scene(rng, "test") for _ in range(recipe.val_images)]
    longs = [
        s for _ in range(recipe.val_families)
        for s in sample_long_family(rng, recipe.family_size, allow_held_out=True)
    ]  # fmt: skip
    return short, longs


def tokenize(tokenizer: Any, texts: list[str], context_length: int) -> torch.Tensor:
    """Token ids padded to the longest text (not to the context), truncated at the context."""
    enc = tokenizer(texts, max_length=context_length, truncation=True, padding="longest", return_tensors="pt")
    return enc.input_ids


def trim(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    nonpad = (tokens != pad_id).any(dim=0).nonzero()
    return tokens[:, : int(nonpad.max()) + 1]


# --------------------------------------------------------------------------------------------- model
def encode_text_prefix(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip CLIP.encode_text on a sequence shorter than the context (same result, less work)."""
    from open_clip.transformer import text_global_pool

    length = tokens.shape[1]
    x = model.token_embedding(tokens) + model.positional_embedding[:length]
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=model.text_eos_id)
    return F.normalize(x @ model.text_projection, dim=-1)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    with torch.autocast("cpu", enabled=False):  # logits and loss in fp32
        image, text = F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1)
        logits = logit_scale.exp().clamp(max=100) * image @ text.T
        labels = torch.arange(len(image))
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def base_model_cfg(vocab_size: int, context_length: int) -> dict[str, Any]:
    return {
        "embed_dim": EMBED_DIM,
        "vision_cfg": dict(VISION_CFG),
        "text_cfg": {
            "context_length": context_length,
            "vocab_size": vocab_size,
            "width": 128,
            "heads": 4,
            "layers": 3,
            "pool_type": "eos",
            "eos_id": 2,
            "pad_id": 0,
            "hf_tokenizer_name": ".",
        },
    }


def multilingual_model_cfg(context_length: int) -> dict[str, Any]:
    return {
        "embed_dim": EMBED_DIM,
        "custom_text": True,
        "vision_cfg": dict(VISION_CFG),
        "text_cfg": {
            "context_length": context_length,
            "hf_model_name": "text-tower",
            "hf_tokenizer_name": ".",
            "hf_pooler_type": "mean_pooler",
            "hf_proj_type": "mlp",
        },
    }


# --------------------------------------------------------------------------------------------- eval
@torch.no_grad()
def image_features(model: Any, pixels: torch.Tensor, batch: int = 512) -> torch.Tensor:
    feats = [
        F.normalize(model.encode_image(to_input(pixels[i : i + batch])), dim=-1)
        for i in range(0, len(pixels), batch)
    ]
    return torch.cat(feats)


@torch.no_grad()
def text_features(model: Any, tokens: torch.Tensor, pad_id: int, hf: bool, batch: int = 512) -> torch.Tensor:
    out = []
    for i in range(0, len(tokens), batch):
        chunk = trim(tokens[i : i + batch], pad_id)
        out.append(F.normalize(model.encode_text(chunk), dim=-1) if hf else encode_text_prefix(model, chunk))
    return torch.cat(out)


def recall_at_1(text: torch.Tensor, image: torch.Tensor) -> float:
    return float(((text @ image.T).argmax(dim=1) == torch.arange(len(text))).float().mean())


# --------------------------------------------------------------------------------------------- training
def train_steps(
    name: str,
    model: Any,
    params: list[torch.nn.Parameter],
    steps: int,
    peak_lr: float,
    batch_fn: Any,
    warmup: int = 50,
    weight_decay: float = 0.05,
) -> list[float]:
    opt = torch.optim.AdamW(params, lr=peak_lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    model.train()
    losses: list[float] = []
    t0 = time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, peak_lr, warmup)
        # bf16 autocast: ~1.3x faster on AVX512-BF16 CPUs; weights and the loss stay fp32
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = batch_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == steps - 1:
            log.info(
                "%s step %d/%d loss %.3f (%.0fs)",
                name,
                step,
                steps,
                float(np.mean(losses[-20:])),
                time.time() - t0,
            )
    model.eval()
    return losses


def swap_in(staging: Path, final: Path) -> None:
    """Replace `final` with `staging` in two renames so readers never see a half-written model."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)


@dataclass
class Context:
    recipe: Recipe
    out: Path
    data: Data
    val_short: list[Scene]
    val_long: list[Scene]
    val_short_px: torch.Tensor
    val_long_px: torch.Tensor
    vocab_texts: list[str]
    gen: torch.Generator


def staging_dir(out: Path, name: str) -> Path:
    path = out / f"{name}.staging"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def reload_check(out: Path, name: str, model: Any, tokens: torch.Tensor, texts: list[str], hf: bool) -> float:
    """The saved directory must load through open_clip and reproduce the in-memory text embeddings."""
    loaded = load_model_dir(out / name)
    with torch.no_grad():
        ref = text_features(model, tokens, 1 if hf else 0, hf)
        got = F.normalize(loaded.model.encode_text(loaded.tokenizer(texts)), dim=-1)
    delta = float((ref - got).abs().max())
    log.info("%s reload check: max |Δ| text embedding %.2e (fp16 rounding)", name, delta)
    if delta > 0.05:
        raise SystemExit(f"{name}: saved model does not reproduce the trained one (max |Δ| {delta})")
    return delta


def val_metrics(
    model: Any, tok: Any, ctx: Context, context_length: int, hf: bool, langs: tuple[str, ...]
) -> dict[str, float]:
    pad = 1 if hf else 0
    val_img = image_features(model, ctx.val_short_px)
    metrics = {
        f"val_t2i_r1_{lang}": recall_at_1(
            text_features(
                model, tokenize(tok, [short_caption(s, lang) for s in ctx.val_short], context_length), pad, hf
            ),
            val_img,
        )
        for lang in langs
    }
    if not hf:
        long_tokens = tokenize(tok, [long_caption(s, "en") for s in ctx.val_long], context_length)
        metrics["val_long_t2i_r1"] = recall_at_1(
            text_features(model, long_tokens, pad, hf), image_features(model, ctx.val_long_px)
        )
    return metrics


def train_base(ctx: Context) -> dict[str, Any]:
    import open_clip

    started = time.time()
    recipe, data = ctx.recipe, ctx.data
    out_dir = staging_dir(ctx.out, "shapes-base")
    wtok = word_tokenizer(ctx.vocab_texts, 77)
    wtok.save_pretrained(str(out_dir))
    cfg = base_model_cfg(len(wtok), 77)
    base = open_clip.CLIP(**cfg)
    short_tok = tokenize(wtok, [short_caption(s, "en") for s in data.short_scenes], 77)
    long_tok77 = tokenize(wtok, [long_caption(s, "en") for s in data.long_scenes], 77)
    n_short, n_long = len(short_tok), len(long_tok77)

    def batch(step: int) -> torch.Tensor:
        # one batch in six is long scenes with their captions cut at 77 tokens (as CLIP saw long text)
        if step % 6 == 5:
            idx = torch.randint(0, n_long, (recipe.batch,), generator=ctx.gen)
            pixels, tokens = data.long_pixels[idx], trim(long_tok77[idx], 0)
        else:
            idx = torch.randint(0, n_short, (recipe.batch,), generator=ctx.gen)
            pixels, tokens = data.short_pixels[idx], trim(short_tok[idx], 0)
        img = base.encode_image(to_input(pixels))
        return contrastive_loss(img, encode_text_prefix(base, tokens), base.logit_scale)

    losses = train_steps("base", base, list(base.parameters()), recipe.base_steps, 1e-3, batch)
    metrics = val_metrics(base, wtok, ctx, 77, False, LANGUAGES)
    log.info("base metrics %s", metrics)
    save_model_dir(base, out_dir, cfg, PREPROCESS_CFG, {
        "model": "shapes-base", "recipe": asdict(recipe), "steps": recipe.base_steps, "batch": recipe.batch,
        "peak_lr": 1e-3, "schedule": "linear warmup 50 steps, cosine decay; AdamW wd 0.05; bf16 autocast",
        "loss": "symmetric InfoNCE, learnable logit scale", "final_loss": float(np.mean(losses[-20:])),
        "data": f"{n_short} short scenes (en), {n_long} long scenes with captions truncated at 77 tokens",
        "metrics": metrics, "seconds": round(time.time() - started, 1), "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    })  # fmt: skip
    swap_in(out_dir, ctx.out / "shapes-base")
    texts = [short_caption(s, "en") for s in data.short_scenes[:8]]
    reload_check(ctx.out, "shapes-base", base, tokenize(wtok, texts, 77), texts, False)
    return metrics


def saved_base(ctx: Context) -> tuple[Any, Any]:
    """shapes-base as saved (fp16 values): the starting point of the two variants."""
    from transformers import PreTrainedTokenizerFast

    loaded = load_model_dir(ctx.out / "shapes-base")
    tok = PreTrainedTokenizerFast.from_pretrained(str(ctx.out / "shapes-base"))
    return loaded.model, tok


def train_long(ctx: Context) -> dict[str, Any]:
    import open_clip

    started = time.time()
    recipe, data = ctx.recipe, ctx.data
    base, wtok = saved_base(ctx)
    out_dir = staging_dir(ctx.out, "shapes-long")
    wtok.model_max_length = LONG_CONTEXT
    wtok.save_pretrained(str(out_dir))
    cfg = base_model_cfg(len(wtok), LONG_CONTEXT)
    longm = open_clip.CLIP(**cfg)
    state = copy.deepcopy(base.state_dict())
    state["positional_embedding"] = stretch_positions(state["positional_embedding"])
    longm.load_state_dict(state)
    short_tok = tokenize(wtok, [short_caption(s, "en") for s in data.short_scenes], LONG_CONTEXT)
    long_tok = tokenize(wtok, [long_caption(s, "en") for s in data.long_scenes], LONG_CONTEXT)
    n_short, n_long = len(short_tok), len(long_tok)

    def batch(step: int) -> torch.Tensor:
        # mostly full long captions, every third batch short captions so short queries keep working
        if step % 3 != 2:
            # whole families per batch: members differ only past token 77, the hard negatives that
            # teach the stretched positions (random batches would rarely hold two siblings)
            size = recipe.family_size
            families = torch.randint(0, n_long // size, (recipe.batch // size,), generator=ctx.gen)
            idx = (families[:, None] * size + torch.arange(size)).reshape(-1)
            pixels, tokens = data.long_pixels[idx], trim(long_tok[idx], 0)
        else:
            idx = torch.randint(0, n_short, (recipe.batch,), generator=ctx.gen)
            pixels, tokens = data.short_pixels[idx], trim(short_tok[idx], 0)
        img = longm.encode_image(to_input(pixels))
        return contrastive_loss(img, encode_text_prefix(longm, tokens), longm.logit_scale)

    losses = train_steps("long", longm, list(longm.parameters()), recipe.long_steps, 5e-4, batch, warmup=20)
    metrics = val_metrics(longm, wtok, ctx, LONG_CONTEXT, False, ("en",))
    metrics["base_val_long_t2i_r1"] = val_metrics(base, wtok, ctx, 77, False, ("en",))["val_long_t2i_r1"]
    log.info("long metrics %s", metrics)
    save_model_dir(longm, out_dir, cfg, PREPROCESS_CFG, {
        "model": "shapes-long", "derived_from": "shapes-base (saved fp16 weights)",
        "stretching": f"Long-CLIP knowledge-preserved: keep {KEEP_POSITIONS}, interpolate x4, 77 -> {LONG_CONTEXT}",
        "steps": recipe.long_steps, "batch": recipe.batch, "peak_lr": 5e-4, "recipe": asdict(recipe),
        "data": f"2 of 3 batches: whole families of {n_long} long scenes (full captions); 1 of 3: {n_short} short scenes",
        "final_loss": float(np.mean(losses[-20:])), "metrics": metrics,
        "seconds": round(time.time() - started, 1),
    })  # fmt: skip
    swap_in(out_dir, ctx.out / "shapes-long")
    texts = [long_caption(s, "en") for s in data.long_scenes[:8]]
    reload_check(ctx.out, "shapes-long", longm, tokenize(wtok, texts, LONG_CONTEXT), texts, False)
    return metrics


def train_multilingual(ctx: Context) -> dict[str, Any]:
    import open_clip
    from transformers import XLMRobertaConfig

    started = time.time()
    recipe, data = ctx.recipe, ctx.data
    base, _ = saved_base(ctx)
    out_dir = staging_dir(ctx.out, "shapes-multilingual")
    utok = unigram_tokenizer(ctx.vocab_texts, 77)
    utok.save_pretrained(str(out_dir))
    xcfg = XLMRobertaConfig(
        vocab_size=len(utok), hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=512, max_position_embeddings=77 + 2, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, type_vocab_size=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    xcfg.save_pretrained(str(out_dir / "text-tower"))
    cfg = multilingual_model_cfg(77)
    text_cfg = dict(cfg["text_cfg"], hf_model_name=str(out_dir / "text-tower"), hf_model_pretrained=False)
    multi = open_clip.CustomTextCLIP(embed_dim=EMBED_DIM, vision_cfg=cfg["vision_cfg"], text_cfg=text_cfg)
    multi.visual.load_state_dict(base.visual.state_dict())
    for p in multi.visual.parameters():
        p.requires_grad_(False)
    # locked image tower (LiT): its features never change, so compute them once
    feats = image_features(base, data.short_pixels)
    lang_tok = {
        lang: tokenize(utok, [short_caption(s, lang) for s in data.short_scenes], 77) for lang in LANGUAGES
    }
    n_short = len(feats)

    def batch(step: int) -> torch.Tensor:
        idx = torch.randint(0, n_short, (recipe.batch * 2,), generator=ctx.gen)
        tokens = trim(lang_tok[LANGUAGES[step % len(LANGUAGES)]][idx], 1)
        return contrastive_loss(feats[idx], multi.encode_text(tokens), multi.logit_scale)

    params = [p for p in multi.parameters() if p.requires_grad]
    losses = train_steps("multilingual", multi, params, recipe.multi_steps, 1e-3, batch)
    metrics = val_metrics(multi, utok, ctx, 77, True, LANGUAGES)
    log.info("multilingual metrics %s", metrics)
    save_model_dir(multi, out_dir, cfg, PREPROCESS_CFG, {
        "model": "shapes-multilingual", "image_tower": "copied from shapes-base and locked (LiT)",
        "text_tower": f"XLM-R style, hidden 128, 4 layers, Unigram tokenizer ({len(utok)} tokens, en/de/fr/es)",
        "steps": recipe.multi_steps, "batch": recipe.batch * 2, "peak_lr": 1e-3, "recipe": asdict(recipe),
        "data": f"{n_short} short scenes, one language per batch (round robin en/de/fr/es)",
        "final_loss": float(np.mean(losses[-20:])), "metrics": metrics,
        "seconds": round(time.time() - started, 1),
    })  # fmt: skip
    swap_in(out_dir, ctx.out / "shapes-multilingual")
    texts = [short_caption(s, "de") for s in data.short_scenes[:8]]
    reload_check(ctx.out, "shapes-multilingual", multi, tokenize(utok, texts, 77), texts, True)
    return metrics


STAGES = {"base": train_base, "long": train_long, "multilingual": train_multilingual}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--quick", action="store_true", help="tiny recipe for smoke runs (minutes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--stages", default="base,long,multilingual",
        help="comma list; long and multilingual start from the saved shapes-base, so they may run "
        "as two processes once base exists",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    recipe = QUICK if args.quick else FULL
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    data = make_data(recipe)
    val_short, val_long = make_validation(recipe)
    # the tokenizers' vocabulary: captions in all four languages (long ones too)
    vocab_texts = [short_caption(s, lang) for lang in LANGUAGES for s in data.short_scenes] + [
        long_caption(s, lang) for lang in LANGUAGES for s in data.long_scenes[:200]
    ]
    ctx = Context(
        recipe, args.out, data, val_short, val_long, render_pixels(val_short), render_pixels(val_long),
        vocab_texts, torch.Generator().manual_seed(recipe.seed),
    )  # fmt: skip
    summary: dict[str, Any] = {}
    for stage in stages:
        # seeds per stage, so a stage trains the same whether run alone or after another
        seed = recipe.seed + list(STAGES).index(stage)
        torch.manual_seed(seed)
        ctx.gen.manual_seed(seed)
        summary[stage] = STAGES[stage](ctx)
    summary["seconds_total"] = round(time.time() - started, 1)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
