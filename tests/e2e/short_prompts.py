"""Short test prompts: a sound set whose every catalogue prompt is a brief tone.

The production prompts are spoken sentences of 2-8 s; a test that checks which prompt
was played (its `prompt.played` event) and what the caller could do after it, not
what it says, spends most of its time listening to them. `write_sound_set` makes a
sounds folder of the project's catalogue (the same keys and texts: chat still shows
the texts) with a recording of each voice prompt in each language, a tone of
`SECONDS`: recordings win over rendered texts (voice/prompts.py), so Asterisk plays the
tones. The config's `sounds_dir` (hotline/config.py) names the folder.

`hotline_with_short_prompts` runs a Hotline of a module's own on it, for modules whose
checks hold with any prompt length (tests/e2e/test_callbacks.py, test_ivr_call.py).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import struct
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotline.catalogue import Catalogue
from tests.e2e import conftest
from tests.e2e.conftest import SPEECH_FLOWS, RunningHotline, without_speech  # noqa: F401

# without_speech (and SPEECH_FLOWS) live beside the workers' shared Hotline, which uses
# them too; the modules with short prompts import them from here as before.

#: Every prompt's length: long enough for the call's RTP to carry it, short enough
#: that a caller never waits on one.
SECONDS = 0.3
RATE = 8000  # Asterisk's native 'wav': 8 kHz mono 16-bit


@functools.cache
def _samples(seconds: float, hertz: float) -> bytes:
    frames = int(RATE * seconds)
    wave_ = (int(8000 * math.sin(2 * math.pi * hertz * n / RATE)) for n in range(frames))
    return struct.pack(f"<{frames}h", *wave_)


def tone(path: Path, seconds: float = SECONDS, hertz: float = 440.0) -> None:
    """A sine tone as an 8 kHz mono 16-bit WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(_samples(seconds, hertz))


def write_sound_set(
    folder: Path,
    seconds: float = SECONDS,
    longer: dict[str, float] | None = None,
    queues: Iterable[str] = (),
) -> Path:
    """`folder` as a sounds folder: the project's catalogue and a tone per prompt text
    (key and language) of it, `seconds` long or as `longer` says for its keys (a
    prompt a test's caller must be able to hang up during); returns `folder`.

    `queues` get a spoken name (`queue_name_<queue>`, as a deployment records its
    queues' names): a callback's whisper says the queue's name, which would otherwise
    be spoken from its id with espeak-ng, at full length."""
    longer = longer or {}
    folder.mkdir(parents=True, exist_ok=True)
    source = conftest.HOME / "sounds" / "catalogue.yaml"
    data = yaml.safe_load(source.read_text())
    for queue in queues:
        data["prompts"].setdefault(f"queue_name_{queue}", dict.fromkeys(data["languages"], queue))
    (folder / "catalogue.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    catalogue = Catalogue.load(folder / "catalogue.yaml")
    for language in catalogue.languages:
        for key in sorted(catalogue.keys()):
            if catalogue.text(key, language):
                tone(folder / language / f"{key}.wav", longer.get(key, seconds))
    return folder


def with_short_prompts(
    config: dict[str, Any], folder: Path, longer: dict[str, float] | None = None
) -> dict[str, Any]:
    """The config with its prompts, its queues' names among them, from a short sound
    set written in `folder`."""
    queues = config.get("queues", {})
    return {**config, "sounds_dir": str(write_sound_set(folder, longer=longer, queues=queues))}


@contextlib.contextmanager
def hotline_with_short_prompts(
    factory: pytest.TempPathFactory, name: str, longer: dict[str, float] | None = None
) -> Iterator[RunningHotline]:
    """A Hotline like the session's (the test flows, queues and agents), on ports and
    an Asterisk of its own, whose prompts are short tones, with no speech model."""
    workdir = factory.mktemp(name)
    instance = f"{name}-{os.getpid()}"
    config, targets = conftest.with_test_flows(
        conftest.test_config(instance, session=True), workdir, session=True
    )
    config = without_speech(with_short_prompts(config, workdir / "sounds", longer))
    running = conftest.spawn(config, workdir, targets)
    try:
        conftest.wait_ready(running)
        yield running
    finally:  # as the session's Hotline stops
        leftover = conftest.stop_spawned(running)
        code = running.proc.returncode
        assert code == 0, f"hotline run exited {code}:\n{running.log_tail()}"
        assert not leftover, f"Asterisk was left running after hotline run stopped: {leftover}"
