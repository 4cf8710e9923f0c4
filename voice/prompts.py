"""Prompts as Asterisk plays them: recordings from sounds/<lang>/, or catalogue texts
rendered with espeak-ng and sox, copied where Asterisk can read them.

A catalogue key with neither a recording nor a text falls back to Asterisk's own
core sound of that name (for example "vm-goodbye"), in the contact's language.

Free text said by a flow (`say: text`: a card's text, a knowledge answer, a queue's
name) is spoken the same way: rendered once per text and language (off the event loop,
by `speak`), kept by content hash beside the catalogue's prompts. Where Asterisk's
folder is not on this host, or rendering fails, the text is spelled instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from hotline.catalogue import Catalogue
from hotline.flows.port import Prompt

log = logging.getLogger(__name__)

#: espeak-ng voices per language code; others use the code itself.
VOICES = {"en": "en-us", "ru": "ru"}


class PromptError(Exception):
    """A prompt could not be rendered."""


def render_text(text: str, language: str, target: Path) -> None:
    """Speak `text` into an 8 kHz mono 16-bit WAV (Asterisk's native 'wav' format).

    The file appears whole or not at all: other Hotline processes sharing the cache
    (test workers, a second instance) may render or read the same prompt meanwhile."""
    target.parent.mkdir(parents=True, exist_ok=True)
    unique = f".{os.getpid()}-{uuid.uuid4().hex[:8]}"
    raw = target.with_name(f"{target.stem}{unique}.raw.wav")
    rendered = target.with_name(f"{target.stem}{unique}.wav")
    voice = VOICES.get(language, language)
    try:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(rendered)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        os.replace(rendered, target)
    except FileNotFoundError as error:
        raise PromptError(f"{error.filename} is missing: apt-get install espeak-ng sox") from error
    except subprocess.CalledProcessError as error:
        raise PromptError(f"rendering {target.name}: {error.stderr.decode().strip()}") from error
    finally:
        raw.unlink(missing_ok=True)
        rendered.unlink(missing_ok=True)


class PromptLibrary:
    """Maps flow prompts to ARI media URIs and keeps Asterisk's copy of them current."""

    def __init__(
        self,
        catalogue: Catalogue,
        sounds_dir: Path,
        cache_dir: Path,
        asterisk_dir: Path | None,
        asterisk_path: str,
    ) -> None:
        self.catalogue = catalogue
        self.sounds_dir = sounds_dir  # the project's sounds/ (recordings)
        self.cache_dir = cache_dir  # rendered texts, by content hash
        self.asterisk_dir = asterisk_dir  # host path Asterisk reads from (None: not local)
        self.asterisk_path = asterisk_path.rstrip("/")  # the same folder as Asterisk sees it
        self.available: set[tuple[str, str]] = set()
        #: Free texts rendered into Asterisk's folder: their file names (see `speak`).
        self.spoken: set[str] = set()

    def publish(self) -> int:
        """Render missing texts and copy every prompt to Asterisk's folder; returns count."""
        count = 0
        keys = sorted(self.catalogue.keys())
        for language in self.catalogue.languages:
            for key in keys:
                source = self._source(key, language)
                if source is None:
                    continue
                if self.asterisk_dir is not None:
                    target = self.asterisk_dir / language / f"{key}.wav"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if not target.exists() or target.read_bytes() != source.read_bytes():
                        copy = target.with_name(f".{target.name}.{os.getpid()}")
                        shutil.copyfile(source, copy)
                        copy.chmod(0o644)
                        os.replace(copy, target)  # Asterisk never plays half a file
                self.available.add((key, language))
                count += 1
        return count

    def _source(self, key: str, language: str) -> Path | None:
        recorded = self.sounds_dir / language / f"{key}.wav"
        if recorded.exists():
            return recorded
        text = self.catalogue.text(key, language)
        if not text:
            return None
        digest = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:16]
        cached = self.cache_dir / language / f"{key}-{digest}.wav"
        if not cached.exists():
            render_text(text, language, cached)
        return cached

    async def speak(self, prompts: Sequence[Prompt], language: str) -> None:
        """Render the free texts among `prompts` that are not yet in Asterisk's folder,
        on a thread (espeak-ng and sox take a tenth of a second or more), so that
        `media` gives them spoken."""
        if self.asterisk_dir is None:
            return
        for prompt in prompts:
            text = (prompt.value or "").strip() if prompt.say == "text" else ""
            lang = prompt.language or language
            if text and _text_name(text, lang) not in self.spoken:
                try:
                    await asyncio.to_thread(self._publish_text, text, lang)
                except PromptError as error:
                    log.warning("free text %r (%s) will be spelled: %s", text, lang, error)

    def _publish_text(self, text: str, language: str) -> None:
        name = _text_name(text, language)
        assert self.asterisk_dir is not None
        target = self.asterisk_dir / language / f"{name}.wav"
        if not target.exists():
            render_text(text, language, target)
            target.chmod(0o644)
        self.spoken.add(name)

    def media(self, prompts: Sequence[Prompt], language: str) -> list[tuple[str, str]]:
        """(media URI, language) pairs for ARI; consecutive prompts in one language
        can be played as one playback."""
        out: list[tuple[str, str]] = []
        for prompt in prompts:
            lang = prompt.language or language
            out.extend((uri, lang) for uri in self._uris(prompt, lang))
        return out

    def _uris(self, prompt: Prompt, language: str) -> list[str]:
        if prompt.say is None:
            key = prompt.key or ""
            if (key, language) in self.available:
                return [f"sound:{self.asterisk_path}/{language}/{key}"]
            return [f"sound:{key}"]
        value = (prompt.value or "").strip()
        if prompt.say == "number":
            return [f"number:{int(float(value))}"] if value else []
        if prompt.say == "digits":
            return [f"digits:{''.join(c for c in value if c.isdigit())}"] if value else []
        if prompt.say == "date":
            return _date_sounds(date.fromisoformat(value[:10]))
        if prompt.say == "time":
            hours, minutes = (int(p) for p in value.split(":")[:2])
            return [f"number:{hours}", *([f"number:{minutes}"] if minutes else [])]
        if value and _text_name(value, language) in self.spoken:
            return [f"sound:{self.asterisk_path}/{language}/{_text_name(value, language)}"]
        return [f"characters:{value}"] if value else []


def _text_name(text: str, language: str) -> str:
    """The file name of a free text rendered in `language` (by content: one per text)."""
    return "text-" + hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:16]


def _date_sounds(day: date) -> list[str]:
    """Weekday, month, day and year from Asterisk's core sounds."""
    return [
        f"sound:digits/day-{day.weekday() + 1 if day.weekday() < 6 else 0}",
        f"sound:digits/mon-{day.month - 1}",
        f"sound:digits/h-{day.day}",
        f"number:{day.year}",
    ]
