"""Caption grammar in four languages, long-caption token counts and Long-CLIP stretching."""

from __future__ import annotations

import random

import pytest
import torch

from clipsearch.config import SHAPES_MODELS_DIR
from clipsearch.errors import InvalidRequest
from clipsearch.shapesworld.captions import long_caption, noun_phrase, short_caption
from clipsearch.shapesworld.longclip import stretch_positions
from clipsearch.shapesworld.scene import Scene, ShapeObject, sample_long_family


@pytest.mark.parametrize(
    ("colour", "shape", "size", "lang", "expected"),
    [
        ("orange", "star", "medium", "en", "an orange star"),
        ("orange", "star", "small", "en", "a small orange star"),
        ("red", "circle", "small", "de", "ein kleiner roter Kreis"),
        ("red", "diamond", "medium", "de", "eine rote Raute"),
        ("blue", "square", "medium", "de", "ein blaues Quadrat"),
        ("white", "triangle", "large", "de", "ein großes weißes Dreieck"),
        ("red", "circle", "small", "fr", "un petit cercle rouge"),
        ("blue", "star", "medium", "fr", "une étoile bleue"),
        ("white", "star", "small", "fr", "une petite étoile blanche"),
        ("blue", "square", "medium", "fr", "un carré bleu"),
        ("red", "circle", "small", "es", "un círculo rojo pequeño"),
        ("red", "star", "medium", "es", "una estrella roja"),
        ("blue", "star", "small", "es", "una estrella azul pequeña"),
    ],
)
def test_noun_phrases_agree_in_gender_and_order(
    colour: str, shape: str, size: str, lang: str, expected: str
) -> None:
    assert noun_phrase(colour, shape, size, lang) == expected


def test_short_caption_names_objects_with_positions_in_every_language() -> None:
    scene = Scene(
        (ShapeObject("blue", "square", "small", 0, 1), ShapeObject("red", "circle", "medium", 1, 0)), "black"
    )
    assert short_caption(scene, "en") == "a small blue square at the top and a red circle on the left"
    assert short_caption(scene, "de") == "ein kleines blaues Quadrat oben und ein roter Kreis links"
    assert short_caption(scene, "fr") == "un petit carré bleu en haut et un cercle rouge à gauche"
    assert short_caption(scene, "es") == "un cuadrado azul pequeño arriba y un círculo rojo a la izquierda"
    with pytest.raises(InvalidRequest):
        short_caption(scene, "it")


def test_long_captions_exceed_77_tokens_and_differ_only_after_token_77() -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(SHAPES_MODELS_DIR / "shapes-base"))
    family = sample_long_family(random.Random(3), 4, allow_held_out=True)
    ids = [tokenizer(long_caption(scene, "en")).input_ids for scene in family]
    assert all(len(i) > 77 for i in ids)
    assert len({tuple(i[:77]) for i in ids}) == 1, "family members must share their first 77 tokens"
    assert len({tuple(i) for i in ids}) == 4, "but differ as a whole"
    # the same structure holds in the other languages
    for lang in ("de", "fr", "es"):
        caption = long_caption(family[0], lang)
        assert len(tokenizer(caption).input_ids) > 77, caption


def test_stretch_positions_follows_long_clip() -> None:
    old = torch.randn(77, 8)
    new = stretch_positions(old)
    assert new.shape == (248, 8)
    assert torch.equal(new[:20], old[:20])
    for i in (0, 17, 55):
        assert torch.allclose(new[20 + 4 * i], old[20 + i])
        assert torch.allclose(new[20 + 4 * i + 2], (old[20 + i] + old[21 + i]) / 2)
        assert torch.allclose(new[20 + 4 * i + 1], 0.75 * old[20 + i] + 0.25 * old[21 + i])
    assert torch.allclose(new[244], old[76])
    assert torch.allclose(new[247], old[76] + 0.75 * (old[76] - old[75]))
