"""Article files: parsed with every problem named by file, line and field."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from hotline.knowledge.loader import gather_articles, lint_articles, parse_article
from hotline.yamlsource import SourceError

ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
title: {en: Paying, ru: Оплата}
questions:
  en: ["How do I pay?"]
  ru: ["Как оплатить?"]
answer:
  en: In your account.
  ru: В личном кабинете.
"""


def problems_of(text: str, article_id: str = "pay") -> list[str]:
    with pytest.raises(SourceError) as error:
        parse_article(dedent(text), f"knowledge/{article_id}.yaml", article_id)
    return [str(p) for p in error.value.problems]


def test_a_good_article() -> None:
    loaded = parse_article(GOOD, "knowledge/pay.yaml", "pay")
    assert loaded.article.answer["ru"] == "В личном кабинете."
    assert loaded.article.languages() == ["en", "ru"]


def test_shipped_knowledge_base_is_clean() -> None:
    found, problems = gather_articles(ROOT / "knowledge")
    assert problems == []
    assert len(found) >= 5
    assert lint_articles(found, ["en", "ru"]) == []


def test_unknown_field_named_with_its_line() -> None:
    assert problems_of(GOOD + "colour: red\n") == ["knowledge/pay.yaml:8:1: colour: unknown field"]


def test_yaml_syntax_error() -> None:
    assert problems_of("title: {en: x\nquestions: [")[0].startswith("knowledge/pay.yaml:")


def test_not_a_mapping() -> None:
    assert problems_of("- a list\n") == [
        "knowledge/pay.yaml:1:1: an article is a mapping (title, questions, answer, ...)"
    ]


def test_bad_article_id() -> None:
    assert "bad article id 'Pay Bill'" in problems_of(GOOD, "Pay Bill")[0]


def test_unknown_language() -> None:
    ru = '  ru: ["Как оплатить?"]'
    found = problems_of(GOOD.replace(ru, ru + '\n  fr: ["Payer?"]') + "  fr: Sur le site.\n")
    assert (
        "knowledge/pay.yaml:5:3: questions.fr: unknown language 'fr': "
        "the knowledge base knows en, ru, zh, ko"
    ) in found


def test_question_without_answer_in_a_language() -> None:
    text = GOOD.replace("  ru: В личном кабинете.\n", "")
    assert problems_of(text) == [
        "knowledge/pay.yaml:1:1: answer.ru: missing (questions and answer go together)"
    ]


def test_duplicate_question_variant() -> None:
    text = GOOD.replace('["How do I pay?"]', '["How do I pay?", "how do i PAY"]')
    assert problems_of(text) == [
        "knowledge/pay.yaml:3:25: questions.en.1: duplicate question: the same as variant 0"
    ]


def test_link_needs_url_or_article_and_a_safe_url() -> None:
    links = "links:\n  - title: {en: x, ru: y}\n  - title: {en: x, ru: y}\n"
    found = problems_of(GOOD + links + "    url: 'javascript:alert(1)'\n")
    expected = "knowledge/pay.yaml:11:10: links.1.url: expected text matching"
    assert any(p.startswith(expected) for p in found), found
    text = GOOD + "links:\n  - title: {en: x, ru: y}\n"
    assert problems_of(text) == [
        "knowledge/pay.yaml:9:5: links.0: a link has either url or article, not both"
    ]


def test_validity_dates_in_order() -> None:
    text = GOOD + "valid_from: 2026-12-01\nvalid_until: 2026-11-01\n"
    assert problems_of(text) == [
        "knowledge/pay.yaml:9:14: valid_until: valid_until is before valid_from (2026-12-01)"
    ]


def test_answer_too_long() -> None:
    text = GOOD.replace("In your account.", "x" * 4001)
    assert problems_of(text) == [
        "knowledge/pay.yaml:6:7: answer.en: string should have at most 4000 characters"
    ]


def test_lint_across_articles(tmp_path: Path) -> None:
    (tmp_path / "pay.yaml").write_text(GOOD + "links:\n  - title: {en: x}\n    article: gone\n")
    (tmp_path / "pay-again.yaml").write_text(GOOD.replace("ru: Оплата", "ru: Платёж"))
    (tmp_path / "broken.yaml").write_text("title: [\n")
    found, problems = gather_articles(tmp_path)
    assert sorted(found) == ["pay", "pay-again"]
    assert [p.file for p in problems] == [str(tmp_path / "broken.yaml")]
    lint = [
        str(p).replace(str(tmp_path) + "/", "") for p in lint_articles(found, ["en", "ru", "zh"])
    ]
    assert lint == [
        "pay.yaml:1:1: title: missing language zh (config languages: en, ru, zh)",
        "pay.yaml:2:1: questions: missing language zh (config languages: en, ru, zh)",
        "pay.yaml:5:1: answer: missing language zh (config languages: en, ru, zh)",
        "pay.yaml:10:14: links.0.article: no article 'gone' in the knowledge base",
        "pay.yaml:9:12: links.0.title: missing language ru",
        "pay.yaml:9:12: links.0.title: missing language zh",
        "pay-again.yaml:1:1: title: missing language zh (config languages: en, ru, zh)",
        "pay-again.yaml:2:1: questions: missing language zh (config languages: en, ru, zh)",
        "pay-again.yaml:5:1: answer: missing language zh (config languages: en, ru, zh)",
        "pay-again.yaml:3:8: questions.en.0: duplicate question: article 'pay' asks it too",
        "pay-again.yaml:4:8: questions.ru.0: duplicate question: article 'pay' asks it too",
    ]


def test_config_languages_the_knowledge_base_cannot_search_are_not_required() -> None:
    found = {"pay": parse_article(GOOD, "knowledge/pay.yaml", "pay")}
    assert lint_articles(found, ["en", "ru", "fr"]) == []
