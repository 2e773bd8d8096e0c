"""Routing counts tokens while micro-batches encode in other threads: the tokenizer must not mix them up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from clipsearch.config import SpaceSettings
from helpers.tiny_models import write_tiny_model


def test_counting_tokens_while_encoding_in_other_threads_keeps_every_vector_right(tmp_path: Path) -> None:
    from clipsearch.indexer.encoders import load_encoder

    # small_vocab: the built-in text tower with a Hugging Face fast tokenizer (as the shapes models).
    model = write_tiny_model(tmp_path / "m", "base", small_vocab=True, dtype="float32")
    encoder = load_encoder(
        "default", SpaceSettings(model=f"local-dir:{model}", precision="fp32", backend="torch")
    )
    texts = [f"a red circle and {i} small green squares on a blue background" for i in range(8)]
    reference = encoder.encode_texts(texts)

    def encode(_: int) -> np.ndarray:
        return encoder.encode_texts(texts)

    def count(i: int) -> int:
        return encoder.count_tokens(texts[i % len(texts)] * (1 + i % 3))

    with ThreadPoolExecutor(4) as pool:
        counts = [pool.submit(count, i) for i in range(400)]
        batches = [pool.submit(encode, i) for i in range(40)]
        for future in batches:
            assert np.allclose(future.result(), reference, atol=1e-5)
        assert all(f.result() > 10 for f in counts)
