"""Text documents: read as UTF-8, then split into passages that fit a space's context.

Passages break at sentence ends (and paragraph breaks) where possible, then at spaces, and only as a
last resort inside a word, so no passage is silently truncated by the tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from clipsearch.indexer.failures import DecodeFailed

# A sentence ends at . ! ? (or their CJK forms) followed by space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n\s*\n|\n")
_WORD_GAP = re.compile(r"(?<=\s)")


def read_text(path: Path, max_bytes: int) -> str:
    """A text file as a string (UTF-8, BOM allowed); empty or non-UTF-8 files are failures."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DecodeFailed("too_large", f"{path}: {size} bytes exceeds the limit of {max_bytes}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DecodeFailed("not_found", f"{path} does not exist") from None
    except OSError as exc:
        raise DecodeFailed("unreadable", f"{path}: {exc.strerror}") from None
    return decode_text(data, str(path))


def decode_text(data: bytes, name: str = "<text>") -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeFailed("encoding", f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise DecodeFailed("unsupported", f"{name}: binary data (NUL bytes), not text")
    text = text.strip()
    if not text:
        raise DecodeFailed("empty", f"{name}: no text")
    return text


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def chunk_text(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Greedy passages of whole sentences, each with `count_tokens(passage) <= max_tokens`.

    `count_tokens` is the space's own tokenizer count (including its start/end tokens), so a passage
    that fits here is never truncated by the encoder.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    passages: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        candidate = f"{current} {sentence}" if current else sentence
        if count_tokens(candidate) <= max_tokens:
            current = candidate
            continue
        if current:
            passages.append(current)
            current = ""
        if count_tokens(sentence) <= max_tokens:
            current = sentence
            continue
        pieces = _split_long(sentence, count_tokens, max_tokens)
        passages.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        passages.append(current)
    return passages


def _split_long(sentence: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """A sentence longer than the context: pack words; a word longer than the context: pack characters."""
    pieces: list[str] = []
    current = ""
    for word in (w for w in _WORD_GAP.split(sentence) if w):
        candidate = current + word
        if count_tokens(candidate.strip()) <= max_tokens:
            current = candidate
            continue
        if current.strip():
            pieces.append(current.strip())
        current = word
        if count_tokens(word.strip()) > max_tokens:
            chars = _split_chars(word.strip(), count_tokens, max_tokens)
            pieces.extend(chars[:-1])
            current = chars[-1]
    if current.strip():
        pieces.append(current.strip())
    return pieces or [sentence[:1]]


def _split_chars(word: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    pieces: list[str] = []
    start = 0
    while start < len(word):
        # Binary search the longest prefix that fits (token counts grow with length).
        low, high = start + 1, len(word)
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens(word[start:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        pieces.append(word[start:low])
        start = low
    return pieces
