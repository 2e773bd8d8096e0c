"""Long text on a short-context space: sentence-aware chunking, and truncation flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clipsearch.config import SpaceSettings
from clipsearch.indexer.encoders import load_encoder
from clipsearch.indexer.encoders.longtext import chunk_text, plan_texts, split_sentences

SENTENCES = [
    f"Sentence {i} describes a {c} shape in detail." for i, c in enumerate(["red", "blue", "green"] * 6)
]
LONG_TEXT = " ".join(SENTENCES)


def _words(text: str) -> int:
    return len(text.split()) + 2  # like a tokenizer: one token per word plus start/end


def test_split_sentences() -> None:
    assert split_sentences("One. Two!  Three?\nFour") == ["One.", "Two!", "Three?", "Four"]


def test_chunks_keep_sentences_whole_and_fit() -> None:
    windows = chunk_text(LONG_TEXT, _words, 20)
    assert len(windows) > 1
    assert all(_words(w) <= 20 for w in windows)
    assert " ".join(windows) == LONG_TEXT  # nothing lost, nothing reordered
    for window in windows:
        assert window.endswith(".")  # cut only at sentence ends


def test_oversized_sentence_is_split_at_words() -> None:
    sentence = " ".join(f"w{i}" for i in range(50))
    windows = chunk_text(sentence, _words, 12)
    assert all(_words(w) <= 12 for w in windows) and " ".join(windows) == sentence


def test_plan_reports_truncation_and_chunks() -> None:
    plan = plan_texts(["short text", LONG_TEXT], _words, 20, "chunk")
    assert plan.truncated == (False, False) and plan.chunks[0] == 1 and plan.chunks[1] > 1
    assert plan.owners == (0,) + (1,) * plan.chunks[1]
    plan = plan_texts(["short text", LONG_TEXT], _words, 20, "truncate")
    assert plan.truncated == (False, True) and plan.chunks == (1, 1)


def test_chunk_vector_is_renormalised_mean_of_window_vectors(tiny_base: Path) -> None:
    space = SpaceSettings(
        model=f"local-dir:{tiny_base}", precision="fp32", backend="torch", long_text="chunk"
    )
    enc = load_encoder("default", space)
    assert enc.count_tokens(LONG_TEXT) > 77
    result = enc.encode_texts_detailed(["a red shape", LONG_TEXT])
    assert result.truncated == (False, False) and result.chunks[0] == 1 and result.chunks[1] >= 2
    windows = chunk_text(LONG_TEXT, enc.count_tokens, 77)
    assert len(windows) == result.chunks[1] and all(enc.count_tokens(w) <= 77 for w in windows)
    window_vectors = enc.encode_texts(windows)
    expected = window_vectors.mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(result.vectors[1], expected, atol=1e-5)
    np.testing.assert_allclose(result.vectors[0], enc.encode_texts(["a red shape"])[0], atol=1e-6)


def test_long_space_keeps_its_own_limit(tiny_long: Path) -> None:
    space = SpaceSettings(
        model=f"local-dir:{tiny_long}", precision="fp32", backend="torch", long_text="chunk"
    )
    enc = load_encoder("long", space)
    assert 77 < enc.count_tokens(LONG_TEXT) <= 248
    result = enc.encode_texts_detailed([LONG_TEXT])
    assert result.chunks == (1,) and result.truncated == (False,)  # no chunking below 248 tokens
