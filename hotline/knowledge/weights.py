"""How much a term tells: inverse document frequency over the current articles.

A question's confidence weighs each term by it, so "internet" (in many articles)
counts for less than "roaming" (in one), and a word no article has counts fully
against the match.
"""

from __future__ import annotations

import math
from collections import Counter


class TermWeights:
    """Document frequencies per language, kept as articles come and go."""

    def __init__(self) -> None:
        self._df: dict[str, Counter[str]] = {}
        self._docs: Counter[str] = Counter()
        self._terms: dict[tuple[str, str], frozenset[str]] = {}

    def put(self, article_id: str, language: str, terms: frozenset[str]) -> None:
        """The article's terms in `language` (replacing what it had)."""
        self.drop(article_id, language)
        self._terms[(article_id, language)] = terms
        self._df.setdefault(language, Counter()).update(terms)
        self._docs[language] += 1

    def drop(self, article_id: str, language: str) -> None:
        old = self._terms.pop((article_id, language), None)
        if old is not None:
            self._df[language].subtract(old)
            self._docs[language] -= 1

    def idf(self, language: str, term: str) -> float:
        """Smoothed inverse document frequency: 1 for a term in every article, more
        for rarer ones, most for a term no article has."""
        docs = self._docs[language]
        df = self._df.get(language, Counter())[term]
        return math.log((docs + 1) / (df + 1)) + 1.0

    def weigh(self, language: str, terms: frozenset[str]) -> float:
        return sum(self.idf(language, term) for term in terms)
