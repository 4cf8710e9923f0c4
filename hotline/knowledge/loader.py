"""Article files (`knowledge/<id>.yaml`): parse, validate and lint them.

Every problem names the file, line and column, like the flows' loader and linter:

    knowledge/pay-bill.yaml:7:5: questions.ru: missing language ru (config languages: en, ru)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from hotline.knowledge.article import ARTICLE_ID_RE, Article
from hotline.knowledge.text import LANGUAGES, terms
from hotline.yamlsource import (
    Positions,
    SourceError,
    SourceProblem,
    parse_yaml,
    validation_problems,
)

#: Largest article file read, in bytes.
MAX_FILE = 64 * 1024


@dataclass(frozen=True)
class LoadedArticle:
    """A parsed article with where it came from (positions for lint messages)."""

    id: str
    file: str
    text: str
    article: Article
    positions: Positions

    def problem(self, path: Sequence[object], message: str, *, key: bool = False) -> SourceProblem:
        line, column = self.positions.key(path) if key else self.positions.value(path)
        return SourceProblem(self.file, line, column, ".".join(str(p) for p in path), message)


def article_files(directory: Path) -> list[Path]:
    """The article files of a knowledge directory, in name order."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def parse_article(text: str, file: str | Path, article_id: str) -> LoadedArticle:
    """Parse and validate one article; SourceError (file:line:col) if it is not one."""
    file = str(file)
    if not ARTICLE_ID_RE.match(article_id):
        raise SourceError.single(
            file, 1, 1, "", f"bad article id {article_id!r}: lower-case letters, digits, - and _"
        )
    if len(text.encode("utf-8")) > MAX_FILE:
        raise SourceError.single(file, 1, 1, "", f"article larger than {MAX_FILE} bytes")
    data, positions = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise SourceError.single(
            file, 1, 1, "", "an article is a mapping (title, questions, answer, ...)"
        )
    try:
        article = Article.model_validate(data)
    except ValidationError as error:
        raise SourceError(validation_problems(error, file, positions, data)) from None
    loaded = LoadedArticle(article_id, file, text, article, positions)
    problems = _own_problems(loaded)
    if problems:
        raise SourceError(problems)
    return loaded


def load_article(path: Path) -> LoadedArticle:
    """Read and parse one article file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError.single(path, 1, 1, "", f"cannot read: {error}") from None
    return parse_article(text, path, path.stem)


def gather_articles(
    directory: Path,
) -> tuple[dict[str, LoadedArticle], list[SourceProblem]]:
    """Every article file that parses, and the problems of those that do not."""
    found: dict[str, LoadedArticle] = {}
    problems: list[SourceProblem] = []
    for path in article_files(directory):
        try:
            found[path.stem] = load_article(path)
        except SourceError as error:
            problems.extend(error.problems)
    return found, problems


def _own_problems(loaded: LoadedArticle) -> list[SourceProblem]:
    """Problems one article has on its own (whatever the others say)."""
    article = loaded.article
    problems = []
    for field in ("title", "questions", "answer"):
        for language in getattr(article, field):
            if language not in LANGUAGES:
                problems.append(
                    loaded.problem(
                        (field, language),
                        f"unknown language {language!r}: the knowledge base knows "
                        + ", ".join(LANGUAGES),
                        key=True,
                    )
                )
    for language, variants in article.questions.items():
        if not variants:
            problems.append(loaded.problem(("questions", language), "no question variants"))
        seen: dict[tuple[str, ...], int] = {}
        for index, variant in enumerate(variants):
            if language not in LANGUAGES:
                break
            key = tuple(terms(variant, language, keep_stop_words=True))
            if key in seen:
                problems.append(
                    loaded.problem(
                        ("questions", language, index),
                        f"duplicate question: the same as variant {seen[key]}",
                    )
                )
            seen.setdefault(key, index)
    for language in sorted(set(article.questions) ^ set(article.answer)):
        field = "answer" if language in article.questions else "questions"
        problems.append(
            loaded.problem((), f"{field}.{language}: missing (questions and answer go together)")
        )
    for index, link in enumerate(article.links):
        if (link.url is None) == (link.article is None):
            problems.append(
                loaded.problem(("links", index), "a link has either url or article, not both")
            )
        if link.article == loaded.id:
            problems.append(
                loaded.problem(("links", index, "article"), "an article links to itself")
            )
    if article.valid_from and article.valid_until and article.valid_until < article.valid_from:
        problems.append(
            loaded.problem(
                ("valid_until",), f"valid_until is before valid_from ({article.valid_from})"
            )
        )
    return problems


def lint_articles(
    articles: dict[str, LoadedArticle], languages: Iterable[str]
) -> list[SourceProblem]:
    """Problems across articles: missing configured languages (those the knowledge
    base can search), questions two articles share, links to articles that do not exist."""
    wanted = [language for language in languages if language in LANGUAGES]
    problems: list[SourceProblem] = []
    owners: dict[tuple[str, tuple[str, ...]], tuple[str, int]] = {}
    for article_id, loaded in sorted(articles.items()):
        article = loaded.article
        for field in ("title", "questions", "answer"):
            have = getattr(article, field)
            for language in wanted:
                if language not in have:
                    problems.append(
                        loaded.problem(
                            (field,),
                            f"missing language {language} (config languages: {', '.join(wanted)})",
                            key=True,
                        )
                    )
        for index, link in enumerate(article.links):
            if link.article is not None and link.article not in articles:
                problems.append(
                    loaded.problem(
                        ("links", index, "article"),
                        f"no article {link.article!r} in the knowledge base",
                    )
                )
            for language in wanted:
                if language not in link.title:
                    problems.append(
                        loaded.problem(("links", index, "title"), f"missing language {language}")
                    )
        for language, variants in article.questions.items():
            if language not in LANGUAGES:
                continue
            for index, variant in enumerate(variants):
                key = (language, tuple(terms(variant, language, keep_stop_words=True)))
                owner = owners.get(key)
                if owner is not None and owner[0] != article_id:
                    problems.append(
                        loaded.problem(
                            ("questions", language, index),
                            f"duplicate question: article {owner[0]!r} asks it too",
                        )
                    )
                owners.setdefault(key, (article_id, index))
    return problems


def lint_directory(directory: Path, languages: Iterable[str]) -> list[SourceProblem]:
    """Every problem of a knowledge folder: files that do not load, then lint across them."""
    found, problems = gather_articles(directory)
    return problems + lint_articles(found, languages)
