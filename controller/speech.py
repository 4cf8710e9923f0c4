"""Speech in the running controller: the recogniser (models load in the background),
the socket callers' audio arrives on, and the transcriber."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ari_app.media import MediaServer
from ari_app.speech import SpeechSettings
from hotline.config import HotlineConfig
from hotline.speech.endpoint import EndpointSettings
from hotline.speech.transcriber import Transcriber
from hotline.speech.vosk_engine import VoskRecogniser, check_model_dir
from hotline.store import Store

log = logging.getLogger(__name__)


@dataclass
class Speech:
    recogniser: VoskRecogniser
    media: MediaServer
    settings: SpeechSettings
    transcriber: Transcriber | None
    loading: asyncio.Task[None]

    async def close(self) -> None:
        self.loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.loading
        if self.transcriber is not None:
            await self.transcriber.stop()
        self.media.close()
        await self.recogniser.close()


async def start_speech(config: HotlineConfig, home: Path, store: Store) -> Speech | None:
    """Speech as configured (None: no `speech.models`, keys only). Calls asking for
    speech before a model has loaded answer with keys. ValueError names a model
    folder that is missing or not a Vosk model (the controller refuses to start)."""
    section = config.speech
    if not section.models:
        return None
    dirs = section.model_dirs(home)
    problems = [
        f"speech.models.{language}: {why}"
        for language, folder in dirs.items()
        if (why := check_model_dir(folder))
    ]
    if problems:
        raise ValueError("; ".join(problems))
    recogniser = VoskRecogniser(dirs, max_streams=section.max_streams, workers=section.workers)
    media = MediaServer()
    await media.start(section.media_host, section.media_port)
    settings = SpeechSettings(
        recogniser=recogniser,
        media=media,
        app=config.asterisk.ari_app,
        min_confidence=section.min_confidence,
        max_seconds=section.max_seconds,
        endpoint=EndpointSettings(end_silence=section.end_silence),
        live_queues=frozenset(section.live_transcripts),
        live_phrases={lang: tuple(words) for lang, words in section.live_phrases.items()},
        debug_audio=home / section.debug_audio if section.debug_audio else None,
    )
    transcriber = None
    if section.transcribe:
        transcriber = Transcriber(store, recogniser, section, config.default_language)
    loading = asyncio.create_task(_load(recogniser, transcriber), name="speech-models")
    return Speech(recogniser, media, settings, transcriber, loading)


async def _load(recogniser: VoskRecogniser, transcriber: Transcriber | None) -> None:
    await recogniser.load()
    log.info("speech ready: %s", ", ".join(sorted(recogniser.loaded)) or "no model loaded")
    if transcriber is not None:
        transcriber.start()
