"""Query routing: language, long text, explicit space, and the policies when a space is missing."""

from __future__ import annotations

import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.routing import (
    LanguageDetector,
    SpaceProfile,
    route_other,
    route_text,
    script_language,
)

DEFAULT = SpaceProfile("base", "default", 16)
LONG = SpaceProfile("long", "long", 64)
MULTI = SpaceProfile("multi", "multilingual", 16, ("en", "de", "fr", "es"))
ALL = [DEFAULT, LONG, MULTI]


def words(_space: str, text: str) -> int:
    return len(text.split()) + 2  # start and end tokens, like a CLIP tokenizer


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(["en", "de", "fr", "es"])


def test_short_english_goes_to_the_default_space(detector: LanguageDetector) -> None:
    route = route_text("a red circle above a blue square", ALL, words, detector, "truncate")
    assert (route.space, route.reason, route.language, route.long_text) == ("base", "default", "en", "fits")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ein roter Kreis über einem blauen Quadrat", "de"),
        ("un cercle rouge au-dessus d'un carré bleu", "fr"),
        ("un círculo rojo encima de un cuadrado azul", "es"),
    ],
)
def test_non_english_goes_to_the_multilingual_space(
    detector: LanguageDetector, text: str, language: str
) -> None:
    route = route_text(text, ALL, words, detector, "truncate")
    assert (route.space, route.reason, route.language) == ("multi", "language", language)


def test_explicit_language_wins_over_detection(detector: LanguageDetector) -> None:
    assert route_text("a red circle", ALL, words, detector, "truncate", language="de").space == "multi"
    assert route_text("ein roter Kreis", ALL, words, detector, "truncate", language="en").space == "base"
    assert route_text("ein roter Kreis", ALL, words, detector, "truncate", language="de-AT").language == "de"
    with pytest.raises(InvalidRequest, match="ISO 639"):
        route_text("a red circle", ALL, words, detector, "truncate", language="german!")


def test_non_english_without_a_multilingual_space_falls_back_to_the_default(
    detector: LanguageDetector,
) -> None:
    route = route_text(
        "ein roter Kreis über einem blauen Quadrat", [DEFAULT, LONG], words, detector, "truncate"
    )
    assert (route.space, route.language) == ("base", "de")


def test_long_text_goes_to_the_long_space_or_follows_the_policy(detector: LanguageDetector) -> None:
    long_text = " ".join(["a red circle moves slowly to the left of a blue square."] * 3)
    routed = route_text(long_text, ALL, words, detector, "truncate")
    assert (routed.space, routed.reason, routed.long_text) == ("long", "long_text", "fits")
    truncated = route_text(long_text, [DEFAULT, MULTI], words, detector, "truncate")
    assert (truncated.space, truncated.long_text) == ("base", "truncate")
    chunked = route_text(long_text, [DEFAULT], words, detector, "chunk")
    assert chunked.long_text == "chunk"
    too_long_even_there = " ".join([long_text] * 4)
    assert route_text(too_long_even_there, ALL, words, detector, "chunk").long_text == "chunk"


def test_explicit_space_wins_and_must_exist(detector: LanguageDetector) -> None:
    route = route_text("ein roter Kreis", ALL, words, detector, "truncate", explicit_space="long")
    assert (route.space, route.reason) == ("long", "explicit")
    with pytest.raises(InvalidRequest, match="not a space"):
        route_text("x", ALL, words, detector, "truncate", explicit_space="nope")
    assert route_other(ALL, "media").space == "base"
    assert route_other(ALL, "vector", "multi").reason == "explicit"


def test_scripts_settle_the_language_without_the_model(detector: LanguageDetector) -> None:
    assert script_language("красный круг") == "ru"
    assert script_language("赤い丸") in ("zh", "ja")
    assert script_language("a red circle") == ""
    assert detector.detect("κόκκινος κύκλος") == ("el", 1.0)
    # Greek is not declared by the multilingual space, so the default space answers.
    route = route_text("κόκκινος κύκλος", ALL, words, detector, "truncate")
    assert route.space == "base" and route.language == "el"
    undeclared = SpaceProfile("any", "multilingual", 16)  # declares no list: trusted with any language
    assert route_text("κόκκινος κύκλος", [DEFAULT, undeclared], words, detector, "truncate").space == "any"


def test_ambiguous_short_text_counts_as_english(detector: LanguageDetector) -> None:
    language, confidence = detector.detect("red")
    assert language == "en" and confidence == 0.0
