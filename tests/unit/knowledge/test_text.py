"""Search terms: Snowball stems for English and Russian, bigrams for Chinese."""

from __future__ import annotations

import pytest

from hotline.knowledge.text import UnknownLanguage, terms


def test_english_stems_and_stop_words() -> None:
    assert terms("How do I pay my bills? Paying online", "en") == ["pay", "bill", "pay", "onlin"]


def test_russian_stems_and_yo() -> None:
    # Different forms of one word meet at one stem; ё reads as е.
    assert terms("Оплата счёта", "ru") == terms("оплату счета", "ru") == ["оплат", "счет"]


def test_latin_words_in_russian_are_stemmed_as_english() -> None:
    assert terms("роутер не видит WiFi networks", "ru")[-2:] == ["wifi", "network"]


def test_chinese_bigrams_without_function_characters() -> None:
    assert terms("我想支付账单", "zh") == ["支付", "付账", "账单"]
    assert terms("怎么查询余额？WiFi密码", "zh") == ["查询", "询余", "余额", "wifi", "密码"]


def test_chinese_single_character_run_is_kept() -> None:
    assert terms("网 坏", "zh") == ["网", "坏"]


def test_only_stop_words_gives_nothing() -> None:
    assert terms("how do I", "en") == []
    assert terms("how do I", "en", keep_stop_words=True) == ["how", "do", "i"]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(
        UnknownLanguage, match="unknown language 'fr': the knowledge base knows en, ru, zh"
    ):
        terms("bonjour", "fr")
