"""The knowledge base: articles kept with every version in the store, searched with
the database's full-text index (SQLite FTS5 + BM25, PostgreSQL tsvector + ts_rank).

    kb = KnowledgeBase(store, languages=["en", "ru"])
    await kb.load()
    await kb.sync_files(Path("knowledge"))
    hits = await kb.search("how do I pay my bill", "en", limit=3)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.knowledge.article import Article, Hit
from hotline.knowledge.loader import (
    LoadedArticle,
    gather_articles,
    lint_articles,
    parse_article,
)
from hotline.knowledge.text import LANGUAGES, check_language, terms
from hotline.knowledge.weights import TermWeights
from hotline.store.coltypes import utcnow
from hotline.store.knowledge_rows import KnowledgeVersionRow
from hotline.store.models import table_of
from hotline.store.store import Store
from hotline.yamlsource import SourceError, SourceProblem

VERSIONS = table_of(KnowledgeVersionRow)

#: Longest question searched, in characters; longer ones are refused, not cut.
MAX_QUESTION = 1000
#: Distinct terms of a question that are searched (the rest add little but cost).
MAX_TERMS = 48
#: Candidates the database ranks before confidence orders them.
CANDIDATES = 50
MAX_LIMIT = 50
#: Seconds between looks for versions other nodes wrote (several nodes, one database).
REFRESH_EVERY = 5.0
#: Times the files are compared again when another node records them at the same moment.
RACES = 3

_COLUMNS = ("questions", "tags", "answer")
_FAR_PAST = "0000-00-00"
_FAR_FUTURE = "9999-12-31"


class KnowledgeError(ValueError):
    """A request the knowledge base refuses; nothing was changed."""


class BadQuestion(KnowledgeError):
    """A question that cannot be searched (empty, too long)."""


@dataclass(frozen=True)
class Version:
    """One stored version of an article."""

    article_id: str
    version: int
    source: str
    author: str | None
    created_at: datetime
    text: str
    deleted: bool

    def public(self, *, with_text: bool = True) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "article": self.article_id,
            "version": self.version,
            "source": self.source,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "deleted": self.deleted,
        }
        if with_text:
            shown["text"] = self.text
        return shown


def check_question(question: str) -> str:
    """The question stripped; BadQuestion if empty or longer than MAX_QUESTION."""
    stripped = question.strip()
    if not stripped:
        raise BadQuestion("empty question: write a few words")
    if len(stripped) > MAX_QUESTION:
        raise BadQuestion(
            f"question of {len(stripped)} characters: at most {MAX_QUESTION} are searched"
        )
    return stripped


class KnowledgeBase:
    """Current articles in memory (for answers and confidence), every version and the
    search index in the store."""

    def __init__(
        self,
        store: Store,
        languages: Iterable[str],
        *,
        today: Any = date.today,
        refresh_every: float = REFRESH_EVERY,
    ) -> None:
        self.store = store
        self.languages = [check_language(language) for language in languages]
        self._today = today
        self._articles: dict[str, LoadedArticle] = {}
        self._variants: dict[tuple[str, str], list[tuple[frozenset[str], str]]] = {}
        self._weights = TermWeights()
        #: The newest version of each article this node has taken (deleted ones too).
        self._version_of: dict[str, int] = {}
        self.refresh_every = refresh_every
        self._refreshed_at = -math.inf

    @classmethod
    async def open(
        cls, store: Store, languages: Iterable[str], folder: Path
    ) -> tuple[KnowledgeBase, list[SourceProblem]]:
        """The knowledge base of `store`, with the article files of `folder` read in
        (the hotline's languages it cannot search are left out); the refused files'
        problems are returned, the rest is served."""
        kb = cls(store, [language for language in languages if language in LANGUAGES])
        await kb.load()
        problems = await kb.sync_files(folder) if folder.is_dir() else []
        return kb, problems

    # reading

    def article(self, article_id: str) -> Article | None:
        loaded = self._articles.get(article_id)
        return loaded.article if loaded else None

    def current(self) -> dict[str, LoadedArticle]:
        """Every current article by id."""
        return dict(self._articles)

    async def load(self) -> None:
        """Read the newest version of every article from the store."""
        newest = (
            select(VERSIONS.c.article_id, func.max(VERSIONS.c.version).label("version"))
            .group_by(VERSIONS.c.article_id)
            .subquery()
        )
        query = select(VERSIONS).join(
            newest,
            (VERSIONS.c.article_id == newest.c.article_id)
            & (VERSIONS.c.version == newest.c.version),
        )
        rows = await self.store.read(lambda c: _all(c, query), "knowledge articles")
        self._articles = {}
        self._variants = {}
        self._weights = TermWeights()
        self._version_of = {}
        for row in rows:
            self._take(row)

    async def refresh(self) -> int:
        """Take the versions other nodes sharing the database wrote since this one last
        read it (an admin's edit through another node's API); how many articles changed."""
        newest = select(VERSIONS.c.article_id, func.max(VERSIONS.c.version)).group_by(
            VERSIONS.c.article_id
        )
        rows = await self.store.read(lambda c: _all(c, newest), "knowledge newest versions")
        stale = [(row[0], row[1]) for row in rows if self._version_of.get(row[0]) != row[1]]
        if not stale:
            return 0
        query = select(VERSIONS).where(
            or_(*(and_(VERSIONS.c.article_id == a, VERSIONS.c.version == v) for a, v in stale))
        )
        for row in await self.store.read(lambda c: _all(c, query), "knowledge new versions"):
            self._take(row)
        return len(stale)

    async def refresh_if_due(self) -> None:
        """`refresh`, at most once every `refresh_every` seconds."""
        now = time.monotonic()
        if now - self._refreshed_at >= self.refresh_every:
            self._refreshed_at = now  # before the read: searches meanwhile do not look too
            await self.refresh()

    def _take(self, row: Any) -> None:
        """One version read from the store: the article as it now is, or gone."""
        self._version_of[row.article_id] = row.version
        if row.deleted:
            self._forget(row.article_id)
            return
        loaded = parse_article(row.text, f"kb:{row.article_id}@{row.version}", row.article_id)
        self._remember(loaded)

    async def versions(self, article_id: str) -> list[Version]:
        query = (
            select(VERSIONS).where(VERSIONS.c.article_id == article_id).order_by(VERSIONS.c.version)
        )
        rows = await self.store.read(lambda c: _all(c, query), "knowledge versions")
        return [_version(row) for row in rows]

    # writing

    async def sync_files(self, directory: Path) -> list[SourceProblem]:
        """Record a new version of each article file changed since it was last read
        (an admin's later edit through the API stays current until the file changes
        again); files with problems are refused and their problems returned.

        Nodes sharing one database each read the files at their start: one that
        recorded the same files a moment before wins, and this one reads its versions."""
        found, problems = gather_articles(directory)
        races = 0
        while True:
            last_from_file = await self._last_file_texts()
            changed = {
                article_id: loaded
                for article_id, loaded in found.items()
                if last_from_file.get(article_id) != loaded.text
            }
            merged = {**self._articles, **changed}
            cross = lint_articles(merged, self.languages)
            refused = {p.file for p in cross}
            accepted = [loaded for loaded in changed.values() if loaded.file not in refused]
            try:
                await self.record(accepted, "file", None, skip_unchanged_files=True)
            except IntegrityError:
                races += 1
                if races == RACES:
                    raise
                await self.load()  # another node wrote the same versions: compare again
                continue
            return problems + cross

    async def save(self, article_id: str, text_: str, author: str) -> Version:
        """Store a new version of one article (new or changed) written by `author`;
        SourceError with every problem (file named `article_id`.yaml) otherwise."""
        loaded = parse_article(text_, f"{article_id}.yaml", article_id)
        current = self._articles.get(article_id)
        if current is not None and current.text == text_:
            raise KnowledgeError(f"article {article_id!r}: no change from the current version")
        problems = [
            p
            for p in lint_articles({**self._articles, article_id: loaded}, self.languages)
            if p.file == loaded.file
        ]
        if problems:
            raise SourceError(problems)
        try:
            versions = await self.record([loaded], "api", author)
        except IntegrityError:
            await self.load()  # what the other node wrote
            raise _changed_meanwhile(article_id) from None
        return versions[0]

    async def delete(self, article_id: str, author: str) -> Version:
        """Record the article's removal (its versions stay); refused while another
        article links to it."""
        if article_id not in self._articles:
            raise KnowledgeError(f"no article {article_id!r}")
        linking = sorted(
            other
            for other, loaded in self._articles.items()
            if any(link.article == article_id for link in loaded.article.links)
        )
        if linking:
            raise KnowledgeError(
                f"article {article_id!r} is linked from {', '.join(linking)}: change those first"
            )
        loaded = self._articles[article_id]

        async def remove(conn: AsyncConnection) -> list[Version]:
            made, _existing = await self._versions_into(
                conn, [(article_id, loaded.text, True)], "api", author
            )
            await self._unindex(conn, [article_id])
            return made

        try:
            version = await self.store.write(remove, "knowledge version")
        except IntegrityError:
            await self.load()
            raise _changed_meanwhile(article_id) from None
        self._version_of[article_id] = version[0].version
        self._forget(article_id)
        return version[0]

    async def reindex(self) -> None:
        """Rebuild the search index from the current articles (after a restore)."""
        ids = list(self._articles)

        async def clear(conn: AsyncConnection) -> None:
            await self._unindex(conn, None)

        await self.store.write(clear, "knowledge unindex")
        for start in range(0, len(ids), 500):
            await self._index_chunk([self._articles[i] for i in ids[start : start + 500]])

    async def _index_chunk(self, chunk: list[LoadedArticle]) -> None:
        async def index(conn: AsyncConnection) -> None:
            await self._index(conn, chunk)

        await self.store.write(index, "knowledge index")

    async def record(
        self,
        loaded: list[LoadedArticle],
        source: str,
        author: str | None,
        *,
        skip_unchanged_files: bool = False,
    ) -> list[Version]:
        """Store a new version of each parsed article and index it (no lint across
        articles here: `save` and `sync_files` do that; bulk imports lint first).
        `skip_unchanged_files`: leave out those whose last file version, read in the
        same transaction, has this text (another node recorded it just now).
        IntegrityError when another node wrote a version of one at the same moment."""
        if not loaded:
            return []

        async def op(conn: AsyncConnection) -> list[Version]:
            todo, numbers = loaded, None
            if skip_unchanged_files:
                ids = [one.id for one in loaded]
                # The version numbers first, the texts after: each statement sees what
                # was committed before it began, so another node's version committed
                # between the two is either in both or makes this insert conflict
                # (read the other way round, it was missed and recorded twice).
                numbers = await _last_versions(conn, ids)
                last = await _file_texts(conn, ids)
                todo = [one for one in loaded if last.get(one.id) != one.text]
            items = [(one.id, one.text, False) for one in todo]
            made, existing = await self._versions_into(conn, items, source, author, numbers)
            # Only articles with an earlier version have index rows to remove (FTS5
            # finds them by a scan); read from the database, as another node may have
            # indexed articles this one has not seen.
            await self._unindex(conn, [one.id for one in todo if one.id in existing])
            await self._index(conn, todo)
            return made

        # The versions and the index change in one transaction: never one without the other.
        versions = await self.store.write(op, "knowledge version")
        for one in loaded:
            self._remember(one)
        for version in versions:
            self._version_of[version.article_id] = version.version
        return versions

    async def _versions_into(
        self,
        conn: AsyncConnection,
        items: list[tuple[str, str, bool]],
        source: str,
        author: str | None,
        numbers: dict[str, int] | None = None,
    ) -> tuple[list[Version], set[str]]:
        """Insert the next version of each (id, text, deleted); the versions made and
        the ids that had a version before. `numbers`: each article's last version,
        already read in this transaction."""
        if not items:
            return [], set()
        ids = [item[0] for item in items]
        if numbers is None:
            numbers = await _last_versions(conn, ids)
        last = {article_id: numbers[article_id] for article_id in ids if article_id in numbers}
        now = utcnow()
        made = [
            Version(article_id, last.get(article_id, 0) + 1, source, author, now, body, deleted)
            for article_id, body, deleted in items
        ]
        await conn.execute(
            insert(VERSIONS),
            [
                {
                    "article_id": v.article_id,
                    "version": v.version,
                    "source": v.source,
                    "author": v.author,
                    "created_at": v.created_at,
                    "text": v.text,
                    "deleted": v.deleted,
                }
                for v in made
            ],
        )
        return made, set(last)

    async def _last_file_texts(self) -> dict[str, str]:
        return await self.store.read(lambda c: _file_texts(c, None), "knowledge file versions")

    def _forget(self, article_id: str) -> None:
        self._articles.pop(article_id, None)
        for language in LANGUAGES:
            self._variants.pop((article_id, language), None)
            self._weights.drop(article_id, language)

    def _remember(self, loaded: LoadedArticle) -> None:
        self._forget(loaded.id)  # a language the new version has not any more goes too
        self._articles[loaded.id] = loaded
        article = loaded.article
        for language in article.languages():
            variants = [(frozenset(terms(q, language)), q) for q in article.questions[language]]
            if language in article.title:
                title = article.title[language]
                variants.append((frozenset(terms(title, language)), title))
            self._variants[(loaded.id, language)] = variants
            self._weights.put(loaded.id, language, frozenset().union(*(v[0] for v in variants)))

    # the search index, per dialect

    async def _unindex(self, conn: AsyncConnection, ids: list[str] | None) -> None:
        if ids is None:
            await conn.execute(text("DELETE FROM kb_fts"))
            return
        for article_id in ids:
            await conn.execute(text("DELETE FROM kb_fts WHERE article_id = :a"), {"a": article_id})

    async def _index(self, conn: AsyncConnection, loaded: list[LoadedArticle]) -> None:
        rows = []
        for one in loaded:
            article = one.article
            for language in article.languages():
                questions = [t for q in article.questions[language] for t in terms(q, language)]
                questions += terms(article.title.get(language, ""), language)
                rows.append(
                    {
                        "article_id": one.id,
                        "language": language,
                        "valid_from": str(article.valid_from or _FAR_PAST),
                        "valid_until": str(article.valid_until or _FAR_FUTURE),
                        "questions": questions,
                        "tags": _tag_terms(article.tags),
                        "answer": terms(article.answer[language], language),
                    }
                )
        if not rows:
            return
        if self.store.dialect == "postgresql":
            statement = text(
                "INSERT INTO kb_fts (article_id, language, valid_from, valid_until, terms)"
                " VALUES (:article_id, :language, :valid_from, :valid_until,"
                " setweight(array_to_tsvector(:questions), 'A')"
                " || setweight(array_to_tsvector(:tags), 'B')"
                " || setweight(array_to_tsvector(:answer), 'C'))"
            ).bindparams(*(bindparam(name, type_=postgresql.ARRAY(String)) for name in _COLUMNS))
            await conn.execute(statement, rows)
        else:
            statement = text(
                "INSERT INTO kb_fts (article_id, language, valid_from, valid_until,"
                " questions, tags, answer)"
                " VALUES (:article_id, :language, :valid_from, :valid_until,"
                " :questions, :tags, :answer)"
            )
            await conn.execute(
                statement,
                [{**row, **{k: " ".join(row[k]) for k in _COLUMNS}} for row in rows],
            )

    # searching

    async def search(
        self, query: str, language: str, limit: int = 5, *, tags: tuple[str, ...] = ()
    ) -> list[Hit]:
        """The articles that best answer `query` in `language`, most confident first
        (only those with one of `tags`, if given).

        BadQuestion for an empty question or one longer than MAX_QUESTION characters;
        UnknownLanguage for a language the knowledge base cannot analyse. A question
        of stop words only finds nothing."""
        question = check_question(query)
        check_language(language)
        await self.refresh_if_due()
        limit = max(1, min(limit, MAX_LIMIT))
        asked = list(dict.fromkeys(terms(question, language)))[:MAX_TERMS]
        if not asked:
            return []

        today = self._today().isoformat()
        ranked = await self.store.read(
            lambda c: self._candidates(c, asked, language, today, CANDIDATES * (5 if tags else 1)),
            "knowledge search",
        )
        wanted = frozenset(asked)
        hits = []
        for article_id, rank in ranked:
            loaded = self._articles.get(article_id)
            if loaded is None or (tags and not set(tags) & set(loaded.article.tags)):
                continue
            variants = self._variants.get((article_id, language), [])
            confidence, variant = _confidence(wanted, variants, self._weights, language)
            article = loaded.article
            hits.append(
                Hit(
                    article_id=article_id,
                    language=language,
                    title=article.title.get(language, article_id),
                    answer=article.answer[language],
                    question=variant,
                    confidence=confidence,
                    rank=rank,
                    links=tuple(article.links),
                )
            )
        hits.sort(key=lambda hit: (-hit.confidence, -hit.rank))
        return hits[:limit]

    async def _candidates(
        self, conn: AsyncConnection, asked: list[str], language: str, today: str, n: int
    ) -> list[tuple[str, float]]:
        params: dict[str, Any] = {"language": language, "today": today, "n": n}
        if self.store.dialect == "postgresql":
            statement = text(
                "SELECT article_id, ts_rank(terms, q) AS rank"
                " FROM kb_fts, CAST(:q AS tsquery) AS q"
                " WHERE terms @@ q AND language = :language"
                " AND valid_from <= :today AND valid_until >= :today"
                " ORDER BY rank DESC, article_id LIMIT :n"
            )
            # Terms are letters and digits only: quoted, each is one lexeme as it is.
            params["q"] = " | ".join(f"'{term}'" for term in asked)
        else:
            statement = text(
                "SELECT article_id, -bm25(kb_fts, 0, 0, 0, 0, 4.0, 2.0, 1.0) AS rank"
                " FROM kb_fts WHERE kb_fts MATCH :q AND language = :language"
                " AND valid_from <= :today AND valid_until >= :today"
                " ORDER BY rank DESC, article_id LIMIT :n"
            )
            params["q"] = " OR ".join(f'"{term}"' for term in asked)
        rows = (await conn.execute(statement, params)).all()
        return [(row[0], float(row[1])) for row in rows]


def _tag_terms(tags: list[str]) -> list[str]:
    return [term for tag in tags for term in terms(tag.replace("-", " "), "en")]


def _confidence(
    asked: frozenset[str],
    variants: list[tuple[frozenset[str], str]],
    weights: TermWeights,
    language: str,
) -> tuple[float, str]:
    """How well the best variant matches the question: the Dice overlap of their
    terms, each weighed by how rare it is among the articles (inverse document
    frequency)."""
    best, said = 0.0, ""
    asked_weight = weights.weigh(language, asked)
    for words, variant in variants:
        if not words:
            continue
        shared = weights.weigh(language, asked & words)
        score = 2 * shared / (asked_weight + weights.weigh(language, words))
        if score > best:
            best, said = score, variant
    return best, said


async def _all(conn: AsyncConnection, query: Any) -> list[Any]:
    return list((await conn.execute(query)).all())


def _version(row: Any) -> Version:
    return Version(
        row.article_id, row.version, row.source, row.author, row.created_at, row.text, row.deleted
    )


async def _last_versions(conn: AsyncConnection, ids: list[str]) -> dict[str, int]:
    """Each article's last version number (of `ids`; none: no version yet)."""
    query = (
        select(VERSIONS.c.article_id, func.max(VERSIONS.c.version))
        .where(VERSIONS.c.article_id.in_(ids))
        .group_by(VERSIONS.c.article_id)
    )
    return {row[0]: row[1] for row in (await conn.execute(query)).all()}


async def _file_texts(conn: AsyncConnection, ids: list[str] | None) -> dict[str, str]:
    """The text of each article's last version read from its file (of `ids`, or all)."""
    newest = select(VERSIONS.c.article_id, func.max(VERSIONS.c.version).label("version")).where(
        VERSIONS.c.source == "file"
    )
    if ids is not None:
        newest = newest.where(VERSIONS.c.article_id.in_(ids))
    last = newest.group_by(VERSIONS.c.article_id).subquery()
    query = select(VERSIONS.c.article_id, VERSIONS.c.text).join(
        last,
        (VERSIONS.c.article_id == last.c.article_id) & (VERSIONS.c.version == last.c.version),
    )
    return {row.article_id: row.text for row in (await conn.execute(query)).all()}


def _changed_meanwhile(article_id: str) -> KnowledgeError:
    return KnowledgeError(
        f"article {article_id!r} was changed meanwhile (on another node): "
        "read it again and save your change once more"
    )
