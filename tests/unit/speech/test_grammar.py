import pytest

from hotline.speech.grammar import (
    Grammar,
    GrammarError,
    digits_grammar,
    menu_grammar,
    normalise,
)

OPTIONS = {
    "1": {"en": ["Billing", "my bill"], "ko": ["요금"]},
    "2": {"en": ["support"], "ko": ["상담원", "기술 지원"]},
}


def test_normalise_ignores_case_punctuation_and_spacing():
    assert normalise("  My   BILL, please! ") == "my bill please"
    assert normalise("기술, 지원.") == "기술 지원"


def test_menu_grammar_has_the_phrases_of_its_language_only():
    grammar = menu_grammar(OPTIONS, "ko")
    assert grammar.phrases == ["기술 지원", "상담원", "요금"]
    assert grammar.answer("상담원") == "2"
    assert grammar.answer("기술  지원") == "2"
    assert menu_grammar(OPTIONS, "en").phrases == ["billing", "my bill", "support"]


def test_menu_answer_is_a_phrase_or_part_of_one_options_phrases():
    grammar = menu_grammar(OPTIONS, "en")
    assert grammar.answer("My bill") == "1"
    assert grammar.answer("bill") == "1"  # a word dropped from "my bill"
    assert grammar.answer("billing support") is None  # two options at once
    assert grammar.answer("bill my") is None  # not in that order
    assert grammar.answer("") is None
    assert menu_grammar(OPTIONS, "ko").answer("지원") == "2"  # of "기술 지원"
    shared = menu_grammar({"1": {"en": ["my bill"]}, "2": {"en": ["my agent"]}}, "en")
    assert shared.answer("my") is None  # in phrases of two options


def test_a_phrase_for_two_options_is_refused():
    with pytest.raises(GrammarError, match="phrase 'Support' is given for options '2' and '3'"):
        menu_grammar({**OPTIONS, "3": {"en": ["Support"]}}, "en")


def test_a_language_without_phrases_is_refused():
    with pytest.raises(GrammarError, match="no phrases in 'ru'"):
        menu_grammar(OPTIONS, "ru")


def test_digits_are_any_sequence_of_digit_words():
    grammar = digits_grammar("ko")
    assert grammar.answer("일 이 삼") == "123"
    assert grammar.answer("공 오") == "05"
    assert grammar.answer("일 요금") is None
    assert digits_grammar("en").answer("four two oh") == "420"


def test_digits_in_an_unknown_language_are_refused():
    with pytest.raises(GrammarError, match="no digit words for 'xx'"):
        digits_grammar("xx")


@pytest.mark.parametrize(
    ("confidence", "own", "expected"),
    [
        (0.9, None, "2"),  # above the default 0.6
        (0.59, None, None),  # below the default: not understood
        (0.7, 0.8, None),  # the node asks for more
        (0.5, 0.4, "2"),  # the node takes less
    ],
)
def test_decide_applies_the_confidence_threshold(confidence, own, expected):
    grammar = menu_grammar(OPTIONS, "ko", min_confidence=own)
    assert grammar.decide("상담원", confidence, default_min=0.6) == expected


def test_decide_never_takes_words_that_are_no_answer():
    assert Grammar("en", {"yes": "1"}).decide("no", 1.0, default_min=0.0) is None
