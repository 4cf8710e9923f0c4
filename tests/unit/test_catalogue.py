from pathlib import Path

import pytest

from hotline.catalogue import Catalogue
from hotline.yamlsource import SourceError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_lookup_and_missing(tmp_path: Path):
    catalogue = Catalogue.load(
        write(
            tmp_path,
            "languages: [en, ru]\nprompts:\n  hi: {en: Hello, ru: Привет}\n  bye: {en: Bye}\n",
        )
    )
    assert catalogue.languages == ["en", "ru"]
    assert list(catalogue.keys()) == ["hi", "bye"]
    assert catalogue.text("hi", "ru") == "Привет"
    assert catalogue.text("bye", "ru") is None
    assert catalogue.text("nope", "en") is None
    assert catalogue.missing("ru") == ["bye"]
    assert catalogue.missing("en") == []


def test_undeclared_language_is_an_error(tmp_path: Path):
    with pytest.raises(SourceError, match="undeclared fr"):
        Catalogue.load(write(tmp_path, "languages: [en]\nprompts:\n  hi: {en: a, fr: b}\n"))


def test_errors_name_the_line(tmp_path: Path):
    with pytest.raises(
        SourceError, match=r"catalogue.yaml:3:12: prompts.hi.en: expected a string, got a list"
    ):
        Catalogue.load(write(tmp_path, "languages: [en]\nprompts:\n  hi: {en: [x]}\n"))


def test_recording_overrides(tmp_path: Path):
    catalogue = Catalogue(["en"], {"hi": {"en": "Hello"}})
    assert catalogue.recording(tmp_path, "hi", "en") is None
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "hi.wav").write_bytes(b"RIFF")
    assert catalogue.recording(tmp_path, "hi", "en") == tmp_path / "en" / "hi.wav"


def test_shipped_catalogue_is_complete():
    catalogue = Catalogue.load(ROOT / "sounds" / "catalogue.yaml")
    assert catalogue.languages == ["en", "ru"]
    assert catalogue.missing("en") == catalogue.missing("ru") == []
