"""Menu intents: which option a typed message means, from example phrases or keywords.

A phrase fits a message by the share of its terms (hotline/knowledge/text.py: stems,
Chinese bigrams, stop words dropped) that the message contains: "I want to pay my
bill" holds all of "pay bill". Options whose best phrase fits at least MIN_FIT, and
nearly as well as the best (within MARGIN), are the candidates: one is the choice,
several are asked back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hotline.knowledge.text import LANGUAGES, terms

MIN_FIT = 0.5
MARGIN = 0.25
#: Longest message matched (a menu answer, not a letter).
MAX_TEXT = 1000

Intents = Mapping[str, Mapping[str, Sequence[str]]]


@dataclass(frozen=True)
class IntentMatch:
    """The options a message may mean, best first; `chosen` when there is exactly one."""

    candidates: tuple[str, ...]
    scores: Mapping[str, float]

    @property
    def chosen(self) -> str | None:
        return self.candidates[0] if len(self.candidates) == 1 else None


def match_intent(text: str, language: str, intents: Intents) -> IntentMatch:
    """The options `text` may mean: phrases in `language` first, then in the others
    (a customer may write in another language than the chat's)."""
    text = text.strip()[:MAX_TEXT]
    if not text:
        return IntentMatch((), {})
    order = [language] + [lang for lang in LANGUAGES if lang != language]
    for lang in order:
        if lang not in LANGUAGES:
            continue
        scores = _scores(set(terms(text, lang)), lang, intents)
        best = max(scores.values(), default=0.0)
        if best >= MIN_FIT:
            close = [key for key, score in scores.items() if score >= max(MIN_FIT, best - MARGIN)]
            close.sort(key=lambda key: -scores[key])
            return IntentMatch(tuple(close), scores)
    return IntentMatch((), {})


def _scores(said: set[str], language: str, intents: Intents) -> dict[str, float]:
    scores: dict[str, float] = {}
    if not said:
        return scores
    for key, by_language in intents.items():
        for phrase in by_language.get(language, ()):
            wanted = set(terms(phrase, language))
            if wanted:
                fit = len(said & wanted) / len(wanted)
                scores[key] = max(scores.get(key, 0.0), fit)
    return scores


def label_of(key: str, language: str, intents: Intents) -> str:
    """A button label for an option asked back: its first phrase in `language`, with a
    capital first letter, as a label is written."""
    phrases = intents.get(key, {}).get(language) or next(iter(intents.get(key, {}).values()), [])
    return phrases[0][:1].upper() + phrases[0][1:] if phrases else key
