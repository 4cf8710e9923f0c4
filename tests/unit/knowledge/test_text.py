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
        UnknownLanguage, match="unknown language 'fr': the knowledge base knows en, ru, zh, ko"
    ):
        terms("bonjour", "fr")


def test_korean_words_with_particles_share_bigrams() -> None:
    # 인터넷이 (the internet + subject particle) meets 인터넷 by its bigrams; 안 (not)
    # is kept, the greeting goes.
    asked = terms("안녕하세요 인터넷이 안 돼요", "ko")
    assert asked == ["인터", "터넷", "넷이", "안", "돼요"]
    article = terms("인터넷 연결이 안 됩니다", "ko")
    assert {"인터", "터넷", "안"} <= set(article) and "넷이" not in article
    assert terms("요금 납부", "ko") == ["요금", "납부"]


def test_korean_with_latin_and_han_words() -> None:
    found = terms("Wi-Fi 라우터가 꺼졌어요", "ko")
    assert found == ["wi", "fi", "라우", "우터", "터가", "꺼졌", "졌어", "어요"]
    assert terms("電話 번호", "ko") == ["電話", "번호"]
