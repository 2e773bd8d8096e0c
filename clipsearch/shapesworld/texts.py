"""Text documents: caption documents (describe a corpus image) and distractor paragraphs.

Distractors are plain prose about unrelated topics, so text→text and image→text search have
something to reject.
"""

from __future__ import annotations

import random
from typing import Final

_TOPICS: Final = (
    ("the harbour", "fishing boats", "the tide", "gulls", "the old lighthouse"),
    ("the orchard", "apple trees", "the autumn harvest", "wooden crates", "the cider press"),
    ("the railway", "night trains", "the timetable", "station clocks", "the signal box"),
    ("the library", "reading rooms", "old maps", "quiet desks", "the archive"),
    ("the mountain", "hiking trails", "the weather", "alpine huts", "the summit"),
    ("the kitchen", "fresh bread", "the recipe", "copper pans", "the oven"),
)
_TEMPLATES: Final = (
    "Most visitors remember {a} for {b}.",
    "In the early morning {c} changes everything about {a}.",
    "Locals talk about {d} and {e} for hours.",
    "Nobody expected {b} to matter so much to {a}.",
    "A short guide to {a} would start with {e}.",
    "{b} and {d} are what people photograph most.",
    "The story of {a} is mostly a story about {c}.",
)


def distractor_paragraph(rng: random.Random, sentences: int = 4) -> str:
    a, b, c, d, e = rng.choice(_TOPICS)
    chosen = rng.sample(_TEMPLATES, sentences)
    return " ".join(t.format(a=a, b=b, c=c, d=d, e=e).capitalize() for t in chosen)


def caption_document(caption: str, image_name: str) -> str:
    """A short document whose first line is a caption of `image_name`."""
    return f"{caption}\n\n(Caption of {image_name} in the shapes-world corpus.)\n"
