"""What a transcript says at a glance: keyword flags (per queue) and a sentiment score.

Phrases match at the start of a word, case-insensitively, so "cancel" also finds
"cancelled" and "불만" finds "불만이" (Korean particles attach to the word).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hotline.speech.grammar import normalise
from hotline.speech.settings import ALL_QUEUES, SentimentPhrases


def count(text: str, phrase: str) -> int:
    """How often `phrase` occurs in `text`, starting at a word boundary."""
    haystack, needle = f" {normalise(text)}", f" {normalise(phrase)}"
    if needle == " ":
        return 0
    found, start = 0, 0
    while (at := haystack.find(needle, start)) >= 0:
        found += 1
        start = at + len(needle)
    return found


def flags(
    text: str, keywords: Mapping[str, Mapping[str, Sequence[str]]], queues: Iterable[str]
) -> list[str]:
    """The flags raised by `text` for a contact that was in `queues` (flags listed
    under "*" apply to every contact), sorted."""
    wanted = [ALL_QUEUES, *queues]
    raised = {
        flag
        for queue in wanted
        for flag, phrases in keywords.get(queue, {}).items()
        if any(count(text, phrase) for phrase in phrases)
    }
    return sorted(raised)


def sentiment(text: str, phrases: SentimentPhrases | None) -> float | None:
    """(positive - negative) / (positive + negative) phrase hits, from -1 to 1; 0 when
    none is found; None when the language has no phrase lists."""
    if phrases is None or not (phrases.positive or phrases.negative):
        return None
    good = sum(count(text, p) for p in phrases.positive)
    bad = sum(count(text, p) for p in phrases.negative)
    return round((good - bad) / (good + bad), 3) if good + bad else 0.0
