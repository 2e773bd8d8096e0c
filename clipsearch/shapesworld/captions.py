"""Captions in English, German, French and Spanish from one template grammar.

Each language knows its nouns' genders, where adjectives go and how they agree:
"a small red circle" / "ein kleiner roter Kreis" / "un petit cercle rouge" / "un círculo rojo pequeño",
"an orange star" / "ein orangefarbener Stern" / "une étoile orange" / "una estrella naranja".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from clipsearch.errors import InvalidRequest
from clipsearch.shapesworld.scene import Scene, ShapeObject
from clipsearch.shapesworld.vocab import COLUMNS, LANGUAGES, ROWS


@dataclass(frozen=True, slots=True)
class Noun:
    word: str
    gender: str  # "m", "f" or "n"


_NOUNS: Final[dict[str, dict[str, Noun]]] = {
    "en": {s: Noun(s, "n") for s in ("circle", "square", "triangle", "star", "diamond", "cross")},
    "de": {
        "circle": Noun("Kreis", "m"),
        "square": Noun("Quadrat", "n"),
        "triangle": Noun("Dreieck", "n"),
        "star": Noun("Stern", "m"),
        "diamond": Noun("Raute", "f"),
        "cross": Noun("Kreuz", "n"),
    },
    "fr": {
        "circle": Noun("cercle", "m"),
        "square": Noun("carré", "m"),
        "triangle": Noun("triangle", "m"),
        "star": Noun("étoile", "f"),
        "diamond": Noun("losange", "m"),
        "cross": Noun("croix", "f"),
    },
    "es": {
        "circle": Noun("círculo", "m"),
        "square": Noun("cuadrado", "m"),
        "triangle": Noun("triángulo", "m"),
        "star": Noun("estrella", "f"),
        "diamond": Noun("rombo", "m"),
        "cross": Noun("cruz", "f"),
    },
}

# German adjectives are stems that take the strong ending of the gender; French and Spanish list
# (masculine, feminine) forms, equal where the adjective does not agree.
_DE_COLOURS: Final = {
    "red": "rot",
    "orange": "orangefarben",
    "yellow": "gelb",
    "green": "grün",
    "blue": "blau",
    "purple": "violett",
    "pink": "rosafarben",
    "white": "weiß",
}
_FR_COLOURS: Final = {
    "red": ("rouge", "rouge"),
    "orange": ("orange", "orange"),
    "yellow": ("jaune", "jaune"),
    "green": ("vert", "verte"),
    "blue": ("bleu", "bleue"),
    "purple": ("violet", "violette"),
    "pink": ("rose", "rose"),
    "white": ("blanc", "blanche"),
}
_ES_COLOURS: Final = {
    "red": ("rojo", "roja"),
    "orange": ("naranja", "naranja"),
    "yellow": ("amarillo", "amarilla"),
    "green": ("verde", "verde"),
    "blue": ("azul", "azul"),
    "purple": ("morado", "morada"),
    "pink": ("rosa", "rosa"),
    "white": ("blanco", "blanca"),
}
_DE_SIZES: Final = {"small": "klein", "large": "groß"}
_FR_SIZES: Final = {"small": ("petit", "petite"), "large": ("grand", "grande")}
_ES_SIZES: Final = {"small": ("pequeño", "pequeña"), "large": ("grande", "grande")}
_DE_ENDINGS: Final = {"m": "er", "f": "e", "n": "es"}

#: (row, column) -> position phrase; the centre column/middle row are left unsaid where natural.
_POSITIONS: Final[dict[str, dict[tuple[str, str], str]]] = {
    "en": {
        ("top", "left"): "at the top left",
        ("top", "center"): "at the top",
        ("top", "right"): "at the top right",
        ("middle", "left"): "on the left",
        ("middle", "center"): "in the center",
        ("middle", "right"): "on the right",
        ("bottom", "left"): "at the bottom left",
        ("bottom", "center"): "at the bottom",
        ("bottom", "right"): "at the bottom right",
    },
    "de": {
        ("top", "left"): "oben links",
        ("top", "center"): "oben",
        ("top", "right"): "oben rechts",
        ("middle", "left"): "links",
        ("middle", "center"): "in der Mitte",
        ("middle", "right"): "rechts",
        ("bottom", "left"): "unten links",
        ("bottom", "center"): "unten",
        ("bottom", "right"): "unten rechts",
    },
    "fr": {
        ("top", "left"): "en haut à gauche",
        ("top", "center"): "en haut",
        ("top", "right"): "en haut à droite",
        ("middle", "left"): "à gauche",
        ("middle", "center"): "au centre",
        ("middle", "right"): "à droite",
        ("bottom", "left"): "en bas à gauche",
        ("bottom", "center"): "en bas",
        ("bottom", "right"): "en bas à droite",
    },
    "es": {
        ("top", "left"): "arriba a la izquierda",
        ("top", "center"): "arriba",
        ("top", "right"): "arriba a la derecha",
        ("middle", "left"): "a la izquierda",
        ("middle", "center"): "en el centro",
        ("middle", "right"): "a la derecha",
        ("bottom", "left"): "abajo a la izquierda",
        ("bottom", "center"): "abajo",
        ("bottom", "right"): "abajo a la derecha",
    },
}
_AND: Final = {"en": "and", "de": "und", "fr": "et", "es": "y"}
_ROW_NAMES: Final = {
    "en": ("in the top row:", "in the second row:", "in the third row:", "in the bottom row:"),
    "de": ("in der oberen Reihe:", "in der zweiten Reihe:", "in der dritten Reihe:", "in der unteren Reihe:"),
    "fr": (
        "dans la rangée du haut :",
        "dans la deuxième rangée :",
        "dans la troisième rangée :",
        "dans la rangée du bas :",
    ),
    "es": ("en la fila de arriba:", "en la segunda fila:", "en la tercera fila:", "en la fila de abajo:"),
}
_INTRO: Final = {
    "en": "a picture of {n} shapes on a {bg} background.",
    "de": "ein Bild mit {n} Formen auf {bg} Hintergrund.",
    "fr": "une image de {n} formes sur un fond {bg}.",
    "es": "una imagen de {n} formas sobre un fondo {bg}.",
}
_BACKGROUND_WORDS: Final = {
    "en": {"black": "black", "gray": "gray", "teal": "teal", "brown": "brown"},
    "de": {"black": "schwarzem", "gray": "grauem", "teal": "petrolfarbenem", "brown": "braunem"},
    "fr": {"black": "noir", "gray": "gris", "teal": "bleu canard", "brown": "marron"},
    "es": {"black": "negro", "gray": "gris", "teal": "verde azulado", "brown": "marrón"},
}


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise InvalidRequest(f"unsupported caption language {lang!r} (choose from {', '.join(LANGUAGES)})")


def noun_phrase(colour: str, shape: str, size: str, lang: str) -> str:
    """ "a small red circle" in `lang`; the medium size is left unsaid."""
    _check_language(lang)
    noun = _NOUNS[lang][shape]
    sized = size != "medium"
    if lang == "en":
        words = ([size] if sized else []) + [colour, noun.word]
        article = "an" if words[0][0] in "aeiou" else "a"
        return " ".join([article, *words])
    if lang == "de":
        ending = _DE_ENDINGS[noun.gender]
        article = "eine" if noun.gender == "f" else "ein"
        adjectives = ([_DE_SIZES[size] + ending] if sized else []) + [_DE_COLOURS[colour] + ending]
        return " ".join([article, *adjectives, noun.word])
    fem = noun.gender == "f"
    if lang == "fr":
        article = "une" if fem else "un"
        size_word = [_FR_SIZES[size][fem]] if sized else []
        return " ".join([article, *size_word, noun.word, _FR_COLOURS[colour][fem]])
    article = "una" if fem else "un"
    size_word = [_ES_SIZES[size][fem]] if sized else []
    return " ".join([article, noun.word, _ES_COLOURS[colour][fem], *size_word])


def position_phrase(row: int, col: int, lang: str) -> str:
    _check_language(lang)
    return _POSITIONS[lang][(ROWS[row], COLUMNS[col])]


def object_phrase(obj: ShapeObject, lang: str, *, with_position: bool = True) -> str:
    phrase = noun_phrase(obj.colour, obj.shape, obj.size, lang)
    return f"{phrase} {position_phrase(obj.row, obj.col, lang)}" if with_position else phrase


def join_list(items: Sequence[str], lang: str, *, comma: bool = True) -> str:
    """ "A, B and C" (no serial comma in any of the four languages)."""
    if len(items) <= 1:
        return "".join(items)
    head = ", ".join(items[:-1]) if comma else f" {_AND[lang]} ".join(items[:-1])
    return f"{head} {_AND[lang]} {items[-1]}"


def short_caption(scene: Scene, lang: str = "en") -> str:
    """One sentence naming every object with its size, colour, shape and grid position."""
    if scene.grid != 3:
        raise InvalidRequest("short captions describe 3×3 scenes; use long_caption for long scenes")
    return join_list([object_phrase(obj, lang) for obj in scene.objects], lang, comma=False)


def long_caption(scene: Scene, lang: str = "en") -> str:
    """Every object, row by row in reading order, after a one-sentence overview."""
    _check_language(lang)
    parts = [_INTRO[lang].format(n=len(scene.objects), bg=_BACKGROUND_WORDS[lang][scene.background])]
    names = _ROW_NAMES[lang]
    for row in range(scene.grid):
        objects = [o for o in scene.objects if o.row == row]
        if not objects:
            continue
        name = (
            names[0] if row == 0 else names[-1] if row == scene.grid - 1 else names[min(row, len(names) - 2)]
        )
        listed = join_list([object_phrase(o, lang, with_position=False) for o in objects], lang)
        parts.append(f"{name} {listed}.")
    return " ".join(parts)


def captions_all_languages(scene: Scene, *, long: bool = False) -> dict[str, str]:
    make = long_caption if long else short_caption
    return {lang: make(scene, lang) for lang in LANGUAGES}
