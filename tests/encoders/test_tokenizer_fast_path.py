"""A Hugging Face tokenizer's texts go through a private copy of its Rust backend (truncated and
padded to the context) instead of the transformers call layer, only where both give the same ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clipsearch.indexer.encoders import tokenize
from clipsearch.indexer.encoders.tokenize import TextTokenizer
from helpers.tiny_models import write_tiny_model

TEXTS = [
    "a red circle",
    "a red   circle &amp; two small squares",
    "ein grünes Dreieck unten rechts",
    "un cercle rouge en haut à gauche " * 40,  # past the context: truncated
    "x",
    "三角形と円",
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tok"), "base", small_vocab=True, dtype="float32")


def _hf(directory: Path, **kwargs: object) -> TextTokenizer:
    from open_clip.tokenizer import HFTokenizer

    return TextTokenizer(HFTokenizer(str(directory), context_length=16, **kwargs), 16, is_hf=True)


def test_the_backend_gives_the_transformers_ids(tokenizer_dir: Path) -> None:
    tokenizer = _hf(tokenizer_dir)
    assert tokenizer._padder is not None
    ids = tokenizer(TEXTS)
    assert ids.dtype == torch.int64 and ids.shape == (len(TEXTS), 16)
    assert torch.equal(ids, tokenizer._call_impl(TEXTS))
    assert torch.equal(tokenizer(TEXTS[:1]), tokenizer._call_impl(TEXTS[:1]))  # one text alone
    pad = tokenizer._impl.tokenizer.pad_token_id
    assert ids[0, -1] == pad and (ids[3] != pad).all()  # the short text padded, the long one full


def test_stripping_the_separator_is_kept(tokenizer_dir: Path) -> None:
    tokenizer = _hf(tokenizer_dir, strip_sep_token=True)
    assert tokenizer._padder is not None
    sep = tokenizer._impl.tokenizer.sep_token_id
    ids = tokenizer(TEXTS)
    assert not (ids == sep).any()
    assert torch.equal(ids, tokenizer._call_impl(TEXTS))


def test_a_mode_it_does_not_mirror_keeps_the_transformers_call(tokenizer_dir: Path) -> None:
    tokenizer = _hf(tokenizer_dir, tokenizer_mode="clips")
    assert tokenizer._padder is None
    assert tokenizer(TEXTS).shape == (len(TEXTS), 16)


def test_padding_on_the_left_is_mirrored(tokenizer_dir: Path) -> None:
    from open_clip.tokenizer import HFTokenizer

    impl = HFTokenizer(str(tokenizer_dir), context_length=16)
    impl.tokenizer.padding_side = "left"
    tokenizer = TextTokenizer(impl, 16, is_hf=True)
    assert tokenizer._padder is not None
    assert torch.equal(tokenizer(TEXTS), tokenizer._call_impl(TEXTS))
    assert tokenizer(["a red circle"])[0, 0] == impl.tokenizer.pad_token_id


def test_a_backend_that_differs_is_not_used(tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tokenizers import processors

    real_copy = tokenize._backend_copy

    def drifted(impl: object) -> object:  # a copy whose special tokens are not the call layer's
        copy = real_copy(impl)
        copy.post_processor = processors.TemplateProcessing(
            single="<s> <s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
        return copy

    monkeypatch.setattr(tokenize, "_backend_copy", drifted)
    tokenizer = _hf(tokenizer_dir)
    assert tokenizer._padder is None
    assert torch.equal(tokenizer(TEXTS), tokenizer._call_impl(TEXTS))
    assert tokenizer(["a red circle"])[0, 1] != 0  # a word, not the drifted copy's second <s>
