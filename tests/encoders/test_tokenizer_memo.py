"""A text query is cleaned once, not three times: routing's count, the long-text plan's count and the
tokenizer's own cleaning share one remembered result per text (bounded, so not a query cache)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from clipsearch.config import SpaceSettings
from clipsearch.indexer.encoders.tokenize import RECENT_TEXTS, TextTokenizer
from helpers.tiny_models import write_tiny_model


class CountingImpl:
    """Shaped like open_clip's SimpleTokenizer: `clean_fn`, `encode`, and a call that cleans."""

    def __init__(self) -> None:
        self.cleaned: list[str] = []
        self.clean_fn = self._clean

    def _clean(self, text: str) -> str:
        self.cleaned.append(text)
        return " ".join(text.split()).lower()

    def encode(self, text: str) -> list[int]:
        return [len(word) for word in self.clean_fn(text).split()]

    def __call__(self, texts: Sequence[str], context_length: int) -> torch.Tensor:
        rows = [self.encode(t)[:context_length] for t in texts]
        return torch.tensor([row + [0] * (context_length - len(row)) for row in rows])


def test_counting_and_tokenizing_one_text_cleans_it_once() -> None:
    impl = CountingImpl()
    tokenizer = TextTokenizer(impl, context_length=8, is_hf=False)
    text = "A  Red Circle"
    assert tokenizer.count(text) == 3 + 2
    assert tokenizer.count(text) == 5
    assert tokenizer([text]).tolist() == [[1, 3, 6, 0, 0, 0, 0, 0]]
    assert impl.cleaned == [text]  # once for two counts and the tokenizer's own call
    tokenizer.count("a blue square")
    assert impl.cleaned == [text, "a blue square"]


def test_the_memory_is_bounded() -> None:
    impl = CountingImpl()
    tokenizer = TextTokenizer(impl, context_length=8, is_hf=False)
    tokenizer.count("first")
    for i in range(RECENT_TEXTS):
        tokenizer.count(f"text {i}")
    tokenizer.count("first")  # pushed out by RECENT_TEXTS others: cleaned again
    assert impl.cleaned.count("first") == 2


def test_a_real_tokenizer_gives_the_same_tokens_and_counts_remembered(tmp_path: Path) -> None:
    from clipsearch.indexer.encoders import load_encoder

    model = write_tiny_model(tmp_path / "m", "base", small_vocab=True, dtype="float32")
    encoder = load_encoder(
        "default", SpaceSettings(model=f"local-dir:{model}", precision="fp32", backend="torch")
    )
    texts = [f"a red   circle &amp; {i} small squares" for i in range(4)]
    first = [encoder.count_tokens(t) for t in texts]
    clean = encoder._tokenizer._impl.clean_fn  # the Hugging Face tokenizer's own cleaning, remembered
    before = clean.cache_info()
    vectors = encoder.encode_texts(texts)  # counts (the long-text plan) and tokenizes each text
    after = clean.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (4, 0)
    assert [encoder.count_tokens(t) for t in texts] == first
    assert torch.allclose(torch.from_numpy(encoder.encode_texts(texts)), torch.from_numpy(vectors))
    # Cleaning still applies (html unescaped, spaces folded): the same count as the clean text's.
    assert encoder.count_tokens("a red circle & 0 small squares") == first[0]
