"""The closed vocabulary of the shapes world: colours, shapes, sizes, grid positions, backgrounds.

Everything the generator can draw is listed here once, with its RGB value or geometry, so captions,
rendering and metadata can never disagree about what exists.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("en", "de", "fr", "es")

#: colour name -> RGB. Saturated and far apart so a 64×64 render still tells them apart.
COLOURS: Final[dict[str, tuple[int, int, int]]] = {
    "red": (230, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 230, 40),
    "green": (40, 190, 60),
    "blue": (40, 90, 250),
    "purple": (150, 50, 210),
    "pink": (255, 120, 200),
    "white": (245, 245, 245),
}

SHAPES: Final = ("circle", "square", "triangle", "star", "diamond")

#: size name -> radius as a fraction of the cell size ("medium" is left unsaid in captions).
SIZES: Final[dict[str, float]] = {"small": 0.22, "medium": 0.36, "large": 0.46}

#: grid columns (left→right) and rows (top→bottom) of short scenes.
COLUMNS: Final = ("left", "center", "right")
ROWS: Final = ("top", "middle", "bottom")

#: background name -> RGB. Dark, so every object colour contrasts with every background.
BACKGROUNDS: Final[dict[str, tuple[int, int, int]]] = {
    "black": (15, 15, 18),
    "gray": (70, 70, 75),
    "teal": (15, 60, 65),
    "brown": (65, 40, 25),
}

#: colour×shape pairs that never appear in the train split (compositional generalisation test).
HELD_OUT_PAIRS: Final[frozenset[tuple[str, str]]] = frozenset(
    {("red", "star"), ("blue", "triangle"), ("yellow", "square"), ("purple", "circle"), ("green", "diamond")}
)

#: long scenes: a 4×4 grid read row by row.
LONG_GRID: Final = 4
