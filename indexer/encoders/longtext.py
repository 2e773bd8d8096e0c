"""What to do with a text longer than the model's context: truncate it, or chunk it at sentences.

`chunk` packs whole sentences greedily into windows that fit the context (a sentence that is too
long on its own is split at word boundaries); the text's vector is the mean of the normalised window
vectors, re-normalised (DESIGN.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?。！？;])\s+|\n+")


@dataclass(frozen=True, slots=True)
class TextPlan:
    """The pieces to encode and, per input text, which pieces belong to it."""

    pieces: tuple[str, ...]
    owners: tuple[int, ...]
    truncated: tuple[bool, ...]
    chunks: tuple[int, ...]


def plan_texts(
    texts: Sequence[str], count_tokens: Callable[[str], int], context_length: int, policy: str
) -> TextPlan:
    pieces: list[str] = []
    owners: list[int] = []
    truncated: list[bool] = []
    chunks: list[int] = []
    for index, text in enumerate(texts):
        too_long = count_tokens(text) > context_length
        windows = chunk_text(text, count_tokens, context_length) if policy == "chunk" and too_long else [text]
        pieces.extend(windows)
        owners.extend([index] * len(windows))
        # A chunked text is only cut if one of its windows still overflows (a giant single word).
        truncated.append(
            too_long and (len(windows) == 1 or any(count_tokens(w) > context_length for w in windows))
        )
        chunks.append(len(windows))
    return TextPlan(tuple(pieces), tuple(owners), tuple(truncated), tuple(chunks))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def chunk_text(text: str, count_tokens: Callable[[str], int], context_length: int) -> list[str]:
    """Sentence-aware windows of `text`, each fitting `context_length` tokens where possible."""
    units: list[str] = []
    for sentence in split_sentences(text):
        if count_tokens(sentence) <= context_length:
            units.append(sentence)
        else:
            units.extend(_split_words(sentence, count_tokens, context_length))
    windows: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if current and count_tokens(candidate) > context_length:
            windows.append(current)
            current = unit
        else:
            current = candidate
    if current:
        windows.append(current)
    return windows or [text]


def _split_words(sentence: str, count_tokens: Callable[[str], int], context_length: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        candidate = f"{current} {word}" if current else word
        if current and count_tokens(candidate) > context_length:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces
