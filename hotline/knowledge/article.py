"""An article of the knowledge base, and a search hit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: An article id: the file's name without `.yaml`, and how flows and links name it.
ARTICLE_ID = r"^[a-z0-9][a-z0-9_-]{0,99}$"
ARTICLE_ID_RE = re.compile(ARTICLE_ID)
#: Longest answer and question variant, in characters (a chat message, not a manual).
MAX_ANSWER = 4000
MAX_QUESTION = 300

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION)
]
Answer = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER)
]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s<>\"']+$", max_length=2000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")]


class Link(BaseModel):
    """A link shown under the answer: a web address (http/https) or another article."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=200)]]
    url: Url | None = None
    article: Annotated[str, StringConstraints(pattern=ARTICLE_ID)] | None = None


class Article(BaseModel):
    """One question answered, in each language the contact centre speaks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=200)]]
    questions: dict[Language, list[Question]] = Field(min_length=1)
    answer: dict[Language, Answer] = Field(min_length=1)
    links: list[Link] = []
    tags: list[Tag] = []
    valid_from: date | None = None
    valid_until: date | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the article may be given as an answer on `day`."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until

    def languages(self) -> list[str]:
        """Languages with both question variants and an answer."""
        return sorted(set(self.questions) & set(self.answer))


@dataclass(frozen=True)
class Hit:
    """An article found for a question: `confidence` in 0..1 is how much of the
    question one of its variants covers; `rank` the database's own score (BM25 on
    SQLite, ts_rank on PostgreSQL; higher is better on both)."""

    article_id: str
    language: str
    title: str
    answer: str
    question: str
    confidence: float
    rank: float
    links: tuple[Link, ...] = ()

    def public(self) -> dict[str, object]:
        """As the API shows it (text as written: whoever renders it escapes it)."""
        return {
            "article": self.article_id,
            "language": self.language,
            "title": self.title,
            "answer": self.answer,
            "question": self.question,
            "confidence": round(self.confidence, 3),
            "rank": self.rank,
            "links": [
                {
                    "title": link.title.get(self.language) or next(iter(link.title.values())),
                    "url": link.url,
                    "article": link.article,
                }
                for link in self.links
            ],
        }
