"""Rendering prompts into a cache that several Hotline processes share."""

from __future__ import annotations

import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from voice.prompts import render_text


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
