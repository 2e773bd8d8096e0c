"""Text batches run on the tokens they use (`indexer/encoders/text_trim.py`): the vectors are the
ones the full padded context gives, for every kind of tower the project loads; towers where cutting
the padding would move the pooled token keep the full context."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from clipsearch.config import SpaceSettings
from clipsearch.indexer.encoders import load_encoder
from clipsearch.indexer.encoders.text_trim import causal_length, padded_length, trimmed_text_forward


def _texts(words: int) -> list[str]:
    return [
        "",
        "a red circle",
        "two blue squares above a green triangle, and a yellow star at the bottom right",
        " ".join(["purple"] * words),  # at (or past) the context: nothing to cut
    ]


@pytest.mark.parametrize("fixture", ["tiny_base", "tiny_long", "tiny_multilingual", "tiny_small_vocab"])
def test_trimmed_forward_gives_the_full_contexts_vectors(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    encoder: Any = load_encoder(
        "default",
        SpaceSettings(model=f"local-dir:{model_dir}", precision="fp32", backend="torch", device="cpu"),
    )
    forward = trimmed_text_forward(encoder.model)
    assert forward is not None, "every tower the project builds qualifies"
    texts = _texts(encoder.context_length)
    tokens = encoder._tokenizer(texts)
    with torch.inference_mode():
        full = encoder.model.encode_text(tokens).numpy()
        short = forward(tokens[:3]).numpy()  # the short texts alone: padding to cut
        everything = forward(tokens).numpy()
    tower = getattr(encoder.model, "text", None)
    if tower is not None and hasattr(tower, "config"):
        used = partial(padded_length, pad_id=tower.config.pad_token_id)
    else:
        used = causal_length
    assert used(tokens[:2]) < tokens.shape[1] // 2  # short texts run on a cut context
    assert used(tokens[:3]) < tokens.shape[1] == used(tokens)
    np.testing.assert_allclose(short, full[:3], atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(everything, full, atol=2e-5, rtol=1e-4)
    # And through the encoder (the path every search and index run takes).
    vectors = encoder.encode_texts(texts)
    reference = full / np.linalg.norm(full, axis=1, keepdims=True)
    assert float((vectors * reference).sum(axis=1).min()) > 0.99999


def test_lengths_keep_what_pooling_reads() -> None:
    # Padded with 0 after the end token (49407): keep one pad, which changes nothing in a causal tower.
    tokens = torch.tensor([[49406, 5, 6, 49407, 0, 0, 0, 0], [49406, 7, 49407, 0, 0, 0, 0, 0]])
    assert causal_length(tokens) == 5
    # Padded with the end token itself: its first occurrence (where eos/argmax pooling reads) stays.
    tokens = torch.tensor([[1, 5, 6, 2, 2, 2, 2, 2]])
    assert causal_length(tokens) == 4
    assert causal_length(torch.tensor([[1, 5, 6, 7, 8, 9, 3, 2]])) == 8  # full row: nothing to cut
    assert padded_length(torch.tensor([[0, 5, 2, 1, 1], [0, 2, 1, 1, 1]]), pad_id=1) == 3
    assert padded_length(torch.tensor([[1, 1]]), pad_id=1) == 1


def _causal(**overrides: Any) -> SimpleNamespace:
    tower = dict(
        token_embedding=object(),
        positional_embedding=object(),
        transformer=object(),
        ln_final=object(),
        attn_mask=torch.zeros(4, 4),
        text_pool_type="argmax",
    )
    tower.update(overrides)
    return SimpleNamespace(**tower)


def test_towers_where_cutting_would_move_the_pooled_token_keep_the_context() -> None:
    assert trimmed_text_forward(_causal()) is not None
    assert trimmed_text_forward(_causal(text_pool_type="last")) is None
    assert trimmed_text_forward(_causal(attn_mask=None)) is None  # bidirectional: padding is seen
    coca = SimpleNamespace(
        text=SimpleNamespace(**vars(_causal()), pool_type="argmax", cls_emb=torch.zeros(4))
    )
    assert trimmed_text_forward(coca) is None

    class MaxPooler:  # open_clip's max pooler reads the padded positions
        pass

    hf = SimpleNamespace(text=SimpleNamespace(config=SimpleNamespace(pad_token_id=1), pooler=MaxPooler()))
    assert trimmed_text_forward(hf) is None
