"""Query routing: which embedding space answers a query (DESIGN §1, issue 7).

Order of precedence, with no explicit space:
1. a text that is not English goes to the collection's multilingual space when it has one
   (an explicit language wins over detection);
2. a text longer than the default space's context goes to the long-text space when there is one;
3. everything else goes to the default (first) space.
Whatever space answers, a text still longer than its context is truncated or chunked per the policy.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from clipsearch.errors import InvalidRequest

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

log = logging.getLogger(__name__)

LongTextMode = Literal["fits", "truncate", "chunk"]
RouteReason = Literal["explicit", "default", "long_text", "language", "vector", "item", "media"]

#: below this normalised probability a detection is not trusted and the text counts as English.
MIN_LANGUAGE_CONFIDENCE = 0.7
#: languages a space serves when its configuration declares none.
ENGLISH_ONLY = ("en",)

# Scripts that settle the question without a statistical model (first code point wins).
_SCRIPT_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("CJK UNIFIED", "zh"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("GREEK", "el"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
)


@dataclass(frozen=True, slots=True)
class SpaceProfile:
    """What routing needs to know about one space of a collection."""

    name: str
    role: str
    context_length: int
    languages: tuple[str, ...] = ()

    @property
    def served_languages(self) -> tuple[str, ...]:
        return self.languages or ENGLISH_ONLY


@dataclass(frozen=True, slots=True)
class Route:
    """The routing decision for one query."""

    space: str
    reason: RouteReason
    #: language used for the decision ("" for non-text queries).
    language: str = ""
    #: how the encoder must fit the text into the chosen space's context.
    long_text: LongTextMode = "fits"


class LanguageDetector:
    """py3langid restricted to the languages the spaces declare, plus script heuristics.

    The identifier model loads lazily (about half a second) and is owned by this object, not global.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        self._languages = tuple(sorted(set(languages) | set(ENGLISH_ONLY)))
        self._identifier: LanguageIdentifier | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages

    def detect(self, text: str) -> tuple[str, float]:
        """(ISO 639-1 code, confidence); English with confidence 0 when nothing is certain."""
        by_script = script_language(text)
        if by_script:
            return by_script, 1.0
        identifier = self._load()
        language, confidence = identifier.classify(text)
        if confidence < MIN_LANGUAGE_CONFIDENCE:
            return "en", 0.0
        return str(language), float(confidence)

    def _load(self) -> LanguageIdentifier:
        if self._identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            known = set(identifier.labels)
            wanted = [code for code in self._languages if code in known]
            identifier.set_languages(wanted or list(ENGLISH_ONLY))
            self._identifier = identifier
        return self._identifier


def script_language(text: str) -> str:
    """The language a non-Latin script implies ("" for Latin script, digits, punctuation)."""
    if text.isascii():  # most queries: nothing to look up, char by char
        return ""
    for char in text:
        if not char.isalpha() or ord(char) < 0x250:
            continue
        name = unicodedata.name(char, "")
        for prefix, language in _SCRIPT_LANGUAGES:
            if name.startswith(prefix):
                return language
    return ""


def route_text(
    text: str,
    spaces: Sequence[SpaceProfile],
    count_tokens: Callable[[str, str], int],
    detector: LanguageDetector,
    long_text_policy: Literal["truncate", "chunk"],
    language: str = "",
    explicit_space: str = "",
) -> Route:
    """Choose the space for a text query. `count_tokens(space, text)` counts tokens in that space."""
    if not spaces:
        raise InvalidRequest("the collection has no embedding spaces")
    by_name = {s.name: s for s in spaces}
    language = _normalise_language(language)
    if explicit_space:
        chosen = _explicit(explicit_space, by_name)
        return Route(chosen.name, "explicit", language, _fit(text, chosen, count_tokens, long_text_policy))

    if not language:
        language, _confidence = detector.detect(text)
    default = spaces[0]
    if language != "en":
        multilingual = _serving(language, spaces, role="multilingual")
        if multilingual is not None and language not in default.served_languages:
            return Route(
                multilingual.name,
                "language",
                language,
                _fit(text, multilingual, count_tokens, long_text_policy),
            )
        log.debug("no multilingual space serves %r; using the default space", language)

    if _too_long(text, default, count_tokens):
        long_space = next((s for s in spaces if s.role == "long"), None)
        if long_space is not None:
            return Route(
                long_space.name, "long_text", language, _fit(text, long_space, count_tokens, long_text_policy)
            )
        return Route(default.name, "default", language, long_text_policy)
    return Route(default.name, "default", language, "fits")


def route_other(spaces: Sequence[SpaceProfile], reason: RouteReason, explicit_space: str = "") -> Route:
    """Choose the space for an image, video, item or vector query: explicit, else the default space."""
    if not spaces:
        raise InvalidRequest("the collection has no embedding spaces")
    if explicit_space:
        return Route(_explicit(explicit_space, {s.name: s for s in spaces}).name, "explicit")
    return Route(spaces[0].name, reason)


def _explicit(name: str, by_name: dict[str, SpaceProfile]) -> SpaceProfile:
    try:
        return by_name[name]
    except KeyError:
        raise InvalidRequest(
            f"space '{name}' is not a space of this collection (spaces: {', '.join(by_name)})"
        ) from None


def _serving(language: str, spaces: Sequence[SpaceProfile], role: str) -> SpaceProfile | None:
    candidates = [s for s in spaces if s.role == role]
    for space in candidates:
        if language in space.served_languages:
            return space
    # A multilingual space that declares no list is trusted with any language.
    return next((s for s in candidates if not s.languages), None)


def _too_long(text: str, space: SpaceProfile, count_tokens: Callable[[str, str], int]) -> bool:
    return space.context_length > 0 and count_tokens(space.name, text) > space.context_length


def _fit(
    text: str,
    space: SpaceProfile,
    count_tokens: Callable[[str, str], int],
    policy: Literal["truncate", "chunk"],
) -> LongTextMode:
    return policy if _too_long(text, space, count_tokens) else "fits"


def _normalise_language(language: str) -> str:
    code = language.strip().lower().replace("_", "-")
    if not code:
        return ""
    primary = code.split("-", 1)[0]
    if not (2 <= len(primary) <= 3 and primary.isalpha()):
        raise InvalidRequest(f"language must be an ISO 639 code such as 'de' or 'pt-BR' (got {language!r})")
    return primary
