"""What a node lets the caller say, and what it means: phrases per option (menus), or
digit words (collect). The recogniser is restricted to these phrases; `answer` maps
its text back to keys."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Digit words per language: spoken digits for `collect` nodes.
DIGIT_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "zero": "0",
        "oh": "0",
        "one": "1",
        "two": "2",
        "three": "3",
        "four": "4",
        "five": "5",
        "six": "6",
        "seven": "7",
        "eight": "8",
        "nine": "9",
    },
    "ru": {
        "ноль": "0",
        "один": "1",
        "два": "2",
        "три": "3",
        "четыре": "4",
        "пять": "5",
        "шесть": "6",
        "семь": "7",
        "восемь": "8",
        "девять": "9",
    },
    # Sino-Korean digits, as account and phone numbers are read out.
    "ko": {
        "영": "0",
        "공": "0",
        "일": "1",
        "이": "2",
        "삼": "3",
        "사": "4",
        "오": "5",
        "육": "6",
        "칠": "7",
        "팔": "8",
        "구": "9",
    },
}


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces: how phrases and results compare."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Grammar:
    """Phrases the recogniser may hear and the answer each gives.

    Menus: a phrase means one option key. The utterance is one whole phrase, or a
    part of phrases of one option only ("support" of "technical support": recognisers
    restricted to a phrase list may drop a word).
    Digits: each phrase is a digit word, an utterance is any sequence of them, and the
    answer is the digits joined.
    """

    language: str
    meanings: Mapping[str, str]  # normalised phrase -> answer
    digits: bool = False
    #: The node's own confidence threshold; None: the configured default.
    min_confidence: float | None = None

    @property
    def phrases(self) -> list[str]:
        """The phrase list handed to the recogniser."""
        return sorted(self.meanings)

    def answer(self, text: str) -> str | None:
        """The keys `text` stands for; None when it is not an answer here."""
        said = normalise(text)
        if not said:
            return None
        if not self.digits:
            if said in self.meanings:
                return self.meanings[said]
            keys = {key for phrase, key in self.meanings.items() if f" {said} " in f" {phrase} "}
            return keys.pop() if len(keys) == 1 else None
        digits = [self.meanings.get(word) for word in said.split()]
        return None if None in digits else "".join(d for d in digits if d is not None)

    def decide(self, text: str, confidence: float, default_min: float) -> str | None:
        """The answer if `text` is one and the recogniser was sure enough; None means
        "not understood" (ask again, or fall back to keys)."""
        threshold = default_min if self.min_confidence is None else self.min_confidence
        return self.answer(text) if confidence >= threshold else None


class GrammarError(ValueError):
    """The phrases of a node cannot make a grammar (the message says why)."""


def menu_grammar(
    options: Mapping[str, Mapping[str, Sequence[str]]],
    language: str,
    min_confidence: float | None = None,
) -> Grammar:
    """A menu's grammar in `language` from {key: {language: [phrases]}}; a phrase given
    for two keys is an error (the caller could not be understood)."""
    meanings: dict[str, str] = {}
    for key, by_language in options.items():
        for phrase in by_language.get(language, ()):
            said = normalise(phrase)
            if not said:
                raise GrammarError(f"option {key!r}: phrase {phrase!r} has no words")
            if meanings.get(said, key) != key:
                raise GrammarError(
                    f"phrase {phrase!r} is given for options {meanings[said]!r} and {key!r}"
                )
            meanings[said] = key
    if not meanings:
        raise GrammarError(f"no phrases in {language!r}")
    return Grammar(language, meanings, min_confidence=min_confidence)


def digits_grammar(language: str, min_confidence: float | None = None) -> Grammar:
    """Spoken digits in `language`."""
    words = DIGIT_WORDS.get(language)
    if words is None:
        raise GrammarError(
            f"no digit words for {language!r} (known: {', '.join(sorted(DIGIT_WORDS))})"
        )
    return Grammar(language, dict(words), digits=True, min_confidence=min_confidence)
