"""The knowledge base on both stores: versions, admin edits, search, bad input."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date
from pathlib import Path

import pytest

from hotline.knowledge import BadQuestion, KnowledgeBase, KnowledgeError, UnknownLanguage
from hotline.store import Store
from hotline.yamlsource import SourceError

ROOT = Path(__file__).resolve().parents[3]

NEW = """\
title: {en: Moving house, ru: Переезд}
questions:
  en: ["I am moving to a new flat", "Transfer my service to a new address"]
  ru: ["Я переезжаю в новую квартиру", "Перенести услугу на новый адрес"]
answer:
  en: "Ask for the move <b>two weeks</b> ahead <script>alert(1)</script>"
  ru: "Сообщите о переезде за две недели."
tags: [moving]
"""


@pytest.fixture
async def kb(store: Store, tmp_path: Path) -> KnowledgeBase:
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    kb = KnowledgeBase(store, ["en", "ru"], today=lambda: date(2026, 12, 6))
    await kb.load()
    assert await kb.sync_files(folder) == []
    kb.folder = folder  # type: ignore[attr-defined]
    return kb


async def top(kb: KnowledgeBase, question: str, language: str) -> tuple[str, float]:
    hits = await kb.search(question, language, limit=3)
    assert hits, question
    return hits[0].article_id, hits[0].confidence


@pytest.mark.parametrize(
    ("question", "language", "article"),
    [
        ("I want to pay my bill", "en", "pay-bill"),
        ("how much money do I have left", "en", "balance"),
        ("оплата счета картой", "ru", "pay-bill"),
        ("у меня не работает интернет", "ru", "internet-down"),
        ("怎么付款", "zh", "pay-bill"),
        ("路由器坏了连不上网", "zh", "internet-down"),
    ],
)
async def test_search_each_language(
    kb: KnowledgeBase, question: str, language: str, article: str
) -> None:
    found, confidence = await top(kb, question, language)
    assert found == article
    assert 0 < confidence <= 1


async def test_hit_carries_answer_links_and_rank(kb: KnowledgeBase) -> None:
    hit = (await kb.search("How do I pay my bill?", "en", 1))[0]
    assert hit.confidence == 1.0 and hit.rank > 0
    assert hit.question == "How do I pay my bill?"
    assert hit.answer.startswith("Pay in your account")
    assert [link.url or link.article for link in hit.links] == [
        "https://example.com/account",
        "balance",
    ]
    assert hit.public()["links"][0] == {
        "title": "Your account",
        "url": "https://example.com/account",
        "article": None,
    }


async def test_every_version_kept_and_admin_edit_survives_a_restart(
    kb: KnowledgeBase, store: Store
) -> None:
    folder: Path = kb.folder  # type: ignore[attr-defined]
    edited = (folder / "balance.yaml").read_text().replace("first page", "main page")
    version = await kb.save("balance", edited, "alice")
    assert (version.version, version.source, version.author) == (2, "api", "alice")
    hit = (await kb.search("check my balance", "en", 1))[0]
    assert "main page" in hit.answer

    again = KnowledgeBase(store, ["en", "ru"])
    await again.load()
    assert await again.sync_files(folder) == []  # the file did not change: the edit stays
    assert "main page" in (again.article("balance") or pytest.fail()).answer["en"]

    (folder / "balance.yaml").write_text(edited.replace("main page", "home page"))
    assert await again.sync_files(folder) == []
    versions = await again.versions("balance")
    assert [(v.version, v.source) for v in versions] == [(1, "file"), (2, "api"), (3, "file")]
    assert "home page" in versions[-1].text


async def test_new_article_and_markup_kept_as_written(kb: KnowledgeBase) -> None:
    await kb.save("moving", NEW, "alice")
    hit = (await kb.search("I am moving house", "en", 1))[0]
    assert hit.article_id == "moving"
    # Stored and returned as written: whoever shows it escapes it (the widget does).
    assert "<script>alert(1)</script>" in hit.answer


async def test_bad_article_refused_with_line_and_nothing_changed(kb: KnowledgeBase) -> None:
    before = await kb.versions("pay-bill")
    bad = NEW.replace("tags: [moving]", "tags: [moving]\ncolour: red")
    with pytest.raises(SourceError) as error:
        await kb.save("pay-bill", bad, "alice")
    assert str(error.value) == "pay-bill.yaml:9:1: colour: unknown field"
    with pytest.raises(SourceError, match=r"moving.yaml:1:1: title: missing language ru"):
        await kb.save("moving", NEW.replace("ru: Переезд", "zh: 搬家"), "alice")
    broken_link = NEW + "links:\n  - title: {en: x, ru: y}\n    article: nowhere\n"
    with pytest.raises(SourceError, match=r"links\.0\.article: no article 'nowhere'"):
        await kb.save("moving", broken_link, "alice")
    assert await kb.versions("pay-bill") == before
    assert await kb.versions("moving") == []
    assert (await kb.search("pay my bill", "en", 1))[0].article_id == "pay-bill"


async def test_unchanged_save_and_bad_delete_refused(kb: KnowledgeBase) -> None:
    folder: Path = kb.folder  # type: ignore[attr-defined]
    with pytest.raises(KnowledgeError, match="no change from the current version"):
        await kb.save("balance", (folder / "balance.yaml").read_text(), "alice")
    with pytest.raises(KnowledgeError, match="'balance' is linked from pay-bill: change those"):
        await kb.delete("balance", "alice")
    with pytest.raises(KnowledgeError, match="no article 'nope'"):
        await kb.delete("nope", "alice")


async def test_delete_keeps_versions_and_leaves_search(kb: KnowledgeBase) -> None:
    removed = await kb.delete("opening-hours", "alice")
    assert removed.deleted and removed.version == 2
    assert all(h.article_id != "opening-hours" for h in await kb.search("opening hours", "en"))
    assert [v.deleted for v in await kb.versions("opening-hours")] == [False, True]


async def test_bad_questions(kb: KnowledgeBase) -> None:
    with pytest.raises(BadQuestion, match="empty question"):
        await kb.search("   ", "en")
    with pytest.raises(BadQuestion, match="question of 10000 characters: at most 1000"):
        await kb.search("b" * 10_000, "en")
    with pytest.raises(UnknownLanguage, match="unknown language 'xx'"):
        await kb.search("bill", "xx")
    assert await kb.search("how do I", "en") == []
    # Quotes and FTS/tsquery operators in a question are only words.
    assert (await kb.search("pay\" OR bill* NEAR('x') | !", "en"))[0].article_id == "pay-bill"


async def test_validity_dates_and_tags(kb: KnowledgeBase, store: Store) -> None:
    expired = NEW.replace("tags: [moving]", "tags: [moving]\nvalid_until: 2026-12-05")
    await kb.save("moving", expired, "alice")
    assert all(h.article_id != "moving" for h in await kb.search("moving to a new flat", "en"))
    later = KnowledgeBase(store, ["en", "ru"], today=lambda: date(2026, 12, 1))
    await later.load()
    assert (await later.search("moving to a new flat", "en"))[0].article_id == "moving"
    assert await kb.search("pay my bill", "en", tags=("internet",)) == []
    billing = await kb.search("pay my bill", "en", tags=("billing",))
    assert billing[0].article_id == "pay-bill"
    assert all(h.article_id in ("pay-bill", "balance") for h in billing)


async def test_reindex_rebuilds_the_same_search(kb: KnowledgeBase) -> None:
    before = [h.article_id for h in await kb.search("internet not working", "en")]
    await kb.reindex()
    assert [h.article_id for h in await kb.search("internet not working", "en")] == before


async def test_files_with_problems_are_refused_and_the_rest_served(
    kb: KnowledgeBase, store: Store
) -> None:
    folder: Path = kb.folder  # type: ignore[attr-defined]
    (folder / "broken.yaml").write_text("title: {en: x}\nquestions: [\n")
    good = (folder / "balance.yaml").read_text()
    (folder / "balance.yaml").write_text(
        good.replace("url: https://example.com/account", "article: gone")
    )
    (folder / "moving.yaml").write_text(NEW)
    again = KnowledgeBase(store, ["en", "ru"])
    await again.load()
    problems = [str(p).replace(str(folder) + "/", "") for p in await again.sync_files(folder)]
    assert problems == [
        "broken.yaml:3:1: YAML syntax: while parsing a flow node expected the node content, "
        "but found '<stream end>'",
        "balance.yaml:21:14: links.0.article: no article 'gone' in the knowledge base",
    ]
    # The refused change leaves the version before it current; the new good file is in.
    assert [v.version for v in await again.versions("balance")] == [1]
    assert again.article("moving") is not None
    assert (await again.search("moving to a new flat", "en"))[0].article_id == "moving"


async def test_two_nodes_starting_at_once_on_one_database(db_url: str, tmp_path: Path) -> None:
    """Several nodes share one database: each reads the article files at its start. Two
    starting at the same moment both see the files as new; neither may fail for it."""
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    stores = [await Store.connect(db_url, retry_for=2.0) for _ in range(2)]
    try:
        await stores[0].migrate()
        nodes = [KnowledgeBase(s, ["en", "ru"], today=lambda: date(2026, 12, 6)) for s in stores]
        for node in nodes:
            await node.load()
        problems = await asyncio.gather(*(node.sync_files(folder) for node in nodes))
        assert problems == [[], []]
        for node in nodes:
            assert (await top(node, "I want to pay my bill", "en"))[0] == "pay-bill"
        assert [v.version for v in await nodes[0].versions("pay-bill")] == [1]
    finally:
        for store in stores:
            await store.close()


async def test_a_nodes_files_committed_between_the_others_two_reads_are_not_recorded_twice(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node b reads the last version numbers, then the last file texts, in one
    transaction; node a commits the same files between the two reads (on PostgreSQL
    each statement sees what was committed before it began). b must skip them, not
    record them again as version 2 (seen once in CI: versions [1, 2])."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: no transaction runs beside another")
    from hotline.knowledge import base

    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    stores = [await Store.connect(db_url, retry_for=2.0) for _ in range(2)]
    try:
        await stores[0].migrate()
        a, b = (KnowledgeBase(s, ["en", "ru"], today=lambda: date(2026, 12, 6)) for s in stores)
        await a.load()
        await b.load()
        reads = {"_file_texts": base._file_texts, "_last_versions": base._last_versions}
        committed: list[str] = []

        def then_a_commits(name: str) -> object:
            async def read(conn: object, ids: list[str] | None) -> object:
                seen = await reads[name](conn, ids)  # type: ignore[operator]
                if ids is not None and not committed:  # b's first read in its transaction
                    committed.append(name)
                    for each, function in reads.items():
                        monkeypatch.setattr(base, each, function)
                    assert await a.sync_files(folder) == []
                return seen

            return read

        assert await b._last_file_texts() == {}  # b sees no file recorded yet
        for name in reads:
            monkeypatch.setattr(base, name, then_a_commits(name))
        assert await b.sync_files(folder) == []
        assert [v.version for v in await a.versions("pay-bill")] == [1]
        assert committed == ["_last_versions"]
        assert (await top(b, "I want to pay my bill", "en"))[0] == "pay-bill"
    finally:
        for store in stores:
            await store.close()


async def test_an_edit_meanwhile_on_another_node_is_refused_not_lost(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    stores = [await Store.connect(db_url, retry_for=2.0) for _ in range(2)]
    try:
        await stores[0].migrate()
        first = KnowledgeBase(stores[0], ["en", "ru"], today=lambda: date(2026, 12, 6))
        await first.load()
        assert await first.sync_files(folder) == []
        second = KnowledgeBase(stores[1], ["en", "ru"], today=lambda: date(2026, 12, 6))
        await second.load()
        edits = await asyncio.gather(
            first.save("moving", NEW, "alice"),
            second.save("moving", NEW.replace("two weeks", "a month"), "bob"),
            return_exceptions=True,
        )
        made = [e for e in edits if not isinstance(e, BaseException)]
        refused = [e for e in edits if isinstance(e, BaseException)]
        kept = await first.versions("moving")
        # Both kept one after the other, or one refused with the reason: never a crash.
        assert len(kept) == len(made) and len(made) + len(refused) == 2
        for error in refused:
            assert isinstance(error, KnowledgeError)
            assert "was changed meanwhile (on another node)" in str(error)
    finally:
        for store in stores:
            await store.close()


async def test_another_nodes_edits_are_taken_within_the_refresh_period(
    db_url: str, tmp_path: Path
) -> None:
    """An admin edits through node A's API: node B answers from the new version at its
    next refresh (every `refresh_every` s, at a search), not only after a restart."""
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    stores = [await Store.connect(db_url, retry_for=2.0) for _ in range(2)]
    try:
        await stores[0].migrate()
        a = KnowledgeBase(stores[0], ["en", "ru"], today=lambda: date(2026, 12, 6))
        await a.load()
        assert await a.sync_files(folder) == []
        b = KnowledgeBase(
            stores[1], ["en", "ru"], today=lambda: date(2026, 12, 6), refresh_every=3600
        )
        await b.load()
        # (its first search looks for new versions: none yet)
        assert all(h.article_id != "moving" for h in await b.search("new flat move", "en"))

        await a.save("moving", NEW, "alice")
        # Within the period: B has not looked yet.
        assert all(h.article_id != "moving" for h in await b.search("new flat move", "en"))
        b.refresh_every = 0  # due at every search from now on
        assert (await top(b, "I am moving to a new flat", "en"))[0] == "moving"
        assert "moving" in b.current()

        # A changes it, then deletes it: B follows both.
        await a.save("moving", NEW.replace("two weeks", "a month"), "alice")
        hits = await b.search("I am moving to a new flat", "en")
        assert hits[0].article_id == "moving" and "<b>a month</b>" in hits[0].answer
        await a.delete("moving", "alice")
        assert all(h.article_id != "moving" for h in await b.search("moving flat", "en"))
        assert "moving" not in b.current()
        assert await b.refresh() == 0  # nothing new
    finally:
        for store in stores:
            await store.close()
