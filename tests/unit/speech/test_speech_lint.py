"""The speech lint rules: their error texts, and that a clean speech menu passes."""

from pathlib import Path

from hotline.flows.lint import Known, lint_paths

MENU = """
name: t
start: menu
nodes:
  menu:
    type: menu
    prompt: hello
    options: {"1": bye, "2": bye}
    speech:
      phrases:
%s
    on: {exhausted: bye}
  bye: {type: hangup}
"""


def lint(tmp_path: Path, text: str, models: set[str] | None) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return [
        f"{p.line}: {p.rule}: {p.message}"
        for p in lint_paths([path], known=Known(speech_languages=models))
    ]


def test_clean_speech_menu(tmp_path):
    text = MENU % '        "1": {ko: [요금]}\n        "2": {ko: [상담원]}'
    assert lint(tmp_path, text, {"ko"}) == []


def test_language_without_a_model(tmp_path):
    text = MENU % '        "1": {ko: [요금], en: [billing]}'
    assert lint(tmp_path, text, {"en"}) == [
        "10: speech-model-missing: menu node 'menu' listens for speech in 'ko', which has"
        " no model in speech.models (models: en)"
    ]
    assert "(models: none)" in lint(tmp_path, text, set())[0]
    assert lint(tmp_path, text, None) == []  # models unknown here: not checked


def test_phrases_for_no_option_and_twice(tmp_path):
    text = (
        MENU % '        "1": {en: [billing]}\n        "2": {en: [Billing]}\n        "7": {en: [x]}'
    )
    assert lint(tmp_path, text, {"en"}) == [
        "11: speech-phrases: en: phrase 'Billing' is given for options '1' and '2'",
        "13: speech-phrases: phrases for '7', which is not an option of 'menu'",
    ]


def test_collect_digits_in_a_language_without_digit_words(tmp_path):
    text = """
name: t
start: pin
nodes:
  pin:
    type: collect
    into: pin
    prompt: hello
    speech: {languages: [ko, xx]}
    on: {ok: bye, invalid: bye}
  bye: {type: hangup}
"""
    assert lint(tmp_path, text, {"ko", "xx"}) == [
        "9: speech-phrases: digits cannot be said in 'xx' (digit words are known for en, ko, ru)"
    ]
