"""Text towers run on the tokens a batch uses, not on the whole padded context.

A search query is ~10-20 tokens; the tokenizer pads it to the context (77, or 248 for Long-CLIP),
and a transformer's cost grows with the padded length. Cutting the padding is exact where the
padded positions cannot reach the pooled output:

- causal towers (CLIP, Long-CLIP: open_clip's `CLIP` and `TextTransformer`) with eos/argmax/first
  pooling: a position attends only to earlier ones, and the pooled token lies before the padding;
- Hugging Face towers (multilingual) with mean or CLS pooling: padding is masked out of attention
  and of the pooling.

Anything else (CoCa's appended class token, 'last' pooling, a pad mask inside a causal tower,
open_clip's max pooler) keeps the full context. ONNX Runtime gets the same cut through text graphs
exported at a few fixed lengths (`onnx_encoder.py`). `bench/encode.py` prints the speed-up against the
full context in the same run; tests check the outputs match the untrimmed forward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TextForward = Callable[["torch.Tensor"], "torch.Tensor"]

_CAUSAL_POOLS = ("argmax", "eos", "first")
_HF_POOLERS = ("MeanPooler", "ClsPooler", "ClsLastHiddenStatePooler")


def trimmed_text_forward(model: Any) -> TextForward | None:
    """A forward over (n, context) token ids that runs on the used length only; None when that
    would not be exact for this model (then use `model.encode_text`)."""
    parts = trimmed_text_parts(model)
    if parts is None:
        return None
    length, on_used = parts

    def forward(tokens: torch.Tensor) -> torch.Tensor:
        return on_used(tokens[:, : length(tokens)])

    return forward


def trimmed_text_parts(model: Any) -> tuple[Callable[[torch.Tensor], int], TextForward] | None:
    """(the columns a batch needs, a forward over tokens already cut) where cutting is exact. The
    forward takes the length from its input's shape, so it also runs on a batch cut to any length
    at least the one needed (the ONNX graphs' fixed lengths)."""
    tower = getattr(model, "text", None)
    if tower is None:
        return _causal_parts(model, pool_attr="text_pool_type", eos_attr="text_eos_id")
    if hasattr(tower, "config") and hasattr(tower, "pooler"):
        return _hf_parts(tower)
    return _causal_parts(tower, pool_attr="pool_type", eos_attr="eos_id")


def _causal_parts(
    tower: Any, *, pool_attr: str, eos_attr: str
) -> tuple[Callable[[torch.Tensor], int], TextForward] | None:
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    if not all(hasattr(tower, name) for name in needed):
        return None
    mask = getattr(tower, "attn_mask", None)
    pool_type = getattr(tower, pool_attr, None)
    if mask is None or pool_type not in _CAUSAL_POOLS:
        return None  # not causal, or pooled where trimming moves the position
    if getattr(tower, "cls_emb", None) is not None or getattr(tower, "use_pad_mask", False):
        return None
    from open_clip.transformer import text_global_pool
    from torch import nn

    eos_id = getattr(tower, eos_attr, None)

    def on_used(text: torch.Tensor) -> torch.Tensor:
        used = text.shape[1]
        cast = tower.transformer.get_cast_dtype()
        x = tower.token_embedding(text).to(cast) + tower.positional_embedding[:used].to(cast)
        x = tower.transformer(x, attn_mask=tower.attn_mask[:used, :used])
        x = tower.ln_final(x)
        x = text_global_pool(x, text, pool_type, eos_token_id=eos_id)
        projection = tower.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, nn.Module) else x @ projection

    return causal_length, on_used


def _hf_parts(tower: Any) -> tuple[Callable[[torch.Tensor], int], TextForward] | None:
    if type(tower.pooler).__name__ not in _HF_POOLERS or getattr(tower, "output_tokens", False):
        return None
    pad_id = tower.config.pad_token_id
    if pad_id is None:
        return None

    def length(tokens: torch.Tensor) -> int:
        return padded_length(tokens, int(pad_id))

    return length, tower


def causal_length(tokens: torch.Tensor) -> int:
    """Columns to keep for a causal tower: up to and including the first token of each row's
    trailing run of one repeated id (the padding; a tokenizer that pads with the end token keeps its
    first end token, where eos/argmax pooling reads)."""
    width = int(tokens.shape[1])
    if width <= 1 or tokens.shape[0] == 0:
        return width
    last = tokens[:, -1:]
    # Per row: the last column whose id differs from the row's final id (-1 when none does).
    differs = tokens != last
    columns = differs.int().cumsum(dim=1).argmax(dim=1)  # first column of the maximum = last differing
    has_diff = differs.any(dim=1)
    run_start = (columns + 1) * has_diff
    return min(width, int(run_start.max()) + 1)


def padded_length(tokens: torch.Tensor, pad_id: int) -> int:
    """Columns to keep when padding is masked: through each row's last non-pad token."""
    width = int(tokens.shape[1])
    real = tokens != pad_id
    if not bool(real.any()):
        return 1
    last_real = real.int().cumsum(dim=1).argmax(dim=1)
    return min(width, int(last_real.max()) + 1)
