"""Rendering prompts into a cache that several Hotline processes share."""

from __future__ import annotations

import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hotline.catalogue import Catalogue
from hotline.flows.port import Prompt
from voice.prompts import PromptLibrary, render_text


def test_a_prompt_rendered_by_several_at_once_is_whole_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    target = tmp_path / "en" / "greeting-0123456789abcdef.wav"
    with ThreadPoolExecutor(max_workers=4) as pool:
        renders = [
            pool.submit(render_text, "Welcome to the hotline", "en", target) for _ in range(6)
        ]
        for render in renders:
            render.result()  # none of them fails on another's half-written file
    with wave.open(str(target)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 4000
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def _library(tmp_path: Path, asterisk_dir: Path | None) -> PromptLibrary:
    catalogue = Catalogue.load(Path(__file__).parents[3] / "sounds" / "catalogue.yaml")
    return PromptLibrary(catalogue, tmp_path / "sounds", tmp_path / "cache", asterisk_dir, "/ast")


async def test_free_text_is_spoken_once_rendered_and_spelled_before(tmp_path: Path) -> None:
    library = _library(tmp_path, tmp_path / "asterisk")
    answer = Prompt(say="text", value="Restart your router")
    assert library.media([answer], "en") == [("characters:Restart your router", "en")]
    await library.speak([answer, Prompt(key="goodbye"), Prompt(say="digits", value="12")], "en")
    [(uri, language)] = library.media([answer], "en")
    assert language == "en" and uri.startswith("sound:/ast/en/text-")
    rendered = tmp_path / "asterisk" / "en" / f"{uri.rsplit('/', 1)[1]}.wav"
    with wave.open(str(rendered)) as audio:
        assert audio.getframerate() == 8000 and audio.getnframes() > 4000
    # The same text in another language is another rendering; only the free text was made.
    assert library.media([answer], "ru") == [("characters:Restart your router", "ru")]
    assert [p.name for p in (tmp_path / "asterisk" / "en").iterdir()] == [rendered.name]


async def test_free_text_is_spelled_where_asterisk_is_not_on_this_host(tmp_path: Path) -> None:
    library = _library(tmp_path, None)
    answer = Prompt(say="text", value="AB12")
    await library.speak([answer], "en")
    assert library.media([answer], "en") == [("characters:AB12", "en")]
