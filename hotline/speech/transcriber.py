"""Transcripts of recorded calls, made in the background.

Every `recording.saved` (a conversation recorded by queue policy, or a voicemail) that
has sound is transcribed in the contact's language, if it has a model, one recording
at a time on the recogniser's transcript thread; the text is stored with the contact
(`hotline/store/transcripts.py`) with its keyword flags and sentiment, then logged as
`transcript.saved {recording, words, flags, sentiment, language, queue}`. At start,
recordings of the last days that have no transcript yet are queued again, so a
restart loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline.speech.analysis import flags, sentiment
from hotline.speech.recogniser import Recogniser, SpeechUnavailable
from hotline.speech.settings import SpeechConfig
from hotline.store import LoggedEvent, Store
from hotline.store.transcripts import Transcripts

log = logging.getLogger(__name__)

#: How far back a start looks for recordings left untranscribed.
CATCH_UP = timedelta(days=7)


class Transcriber:
    def __init__(
        self,
        store: Store,
        recogniser: Recogniser,
        settings: SpeechConfig,
        default_language: str,
        engine: str = "vosk",
    ) -> None:
        self.store = store
        self.transcripts = Transcripts(store)
        self.recogniser = recogniser
        self.settings = settings
        self.default_language = default_language
        self.engine = engine
        self._queue: asyncio.Queue[LoggedEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._unlisten = self.store.listen(self._saw)
        self._task = asyncio.create_task(self._run(), name="transcriber")

    async def stop(self) -> None:
        self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _saw(self, event: LoggedEvent) -> None:
        if event.type == "recording.saved" and event.data.get("outcome") == "recorded":
            self._queue.put_nowait(event)

    async def _run(self) -> None:
        try:
            await self._catch_up()
        except Exception:
            log.exception("could not look for recordings left untranscribed")
        while True:
            event = await self._queue.get()
            try:
                await self.transcribe(event)
            except Exception:  # one bad file must not stop the others
                log.exception("transcribing %s failed", event.data.get("name"))

    async def _catch_up(self) -> None:
        now = datetime.now(UTC)
        for event in await self.store.events_between(
            now - CATCH_UP, now, types=["recording.saved"]
        ):
            self._saw(event)

    async def transcribe(self, event: LoggedEvent) -> bool:
        """Transcribe one saved recording; False when it is skipped (done already, no
        file here, or no model for the contact's language)."""
        name, contact_id = event.data.get("name"), event.contact_id
        if not name or contact_id is None or await self.transcripts.has(name):
            return False
        path = Path(str(event.data.get("file", "")))
        if not path.is_file():
            log.info("recording %s: no file at %s to transcribe", name, path)
            return False
        language, queue = await self._context(event)
        try:
            heard = await self.recogniser.transcribe(language, path)
        except SpeechUnavailable as error:
            log.info("recording %s not transcribed (%s): %s", name, language, error)
            return False
        raised = flags(heard.text, self.settings.keywords, [queue] if queue else [])
        mood = sentiment(heard.text, self.settings.sentiment.get(language))
        words = [
            {"word": w.text, "start": w.start, "end": w.end, "conf": w.confidence}
            for w in heard.words
        ]
        saved = await self.transcripts.save(
            contact_id=contact_id,
            recording=name,
            queue=queue,
            language=language,
            engine=self.engine,
            text=heard.text,
            confidence=heard.confidence,
            words=words,
            flags=raised,
            sentiment=mood,
        )
        if saved:
            await self.store.append(
                contact_id,
                "transcript.saved",
                {
                    "recording": name,
                    "words": len(words),
                    "flags": raised,
                    "sentiment": mood,
                    "language": language,
                    "queue": queue,
                },
                queue=queue,
            )
        return saved

    async def _context(self, event: LoggedEvent) -> tuple[str, str | None]:
        """The contact's language (the last one its flow switched to) and queue."""
        assert event.contact_id is not None
        events = await self.store.events(event.contact_id)
        language = next(
            (e.data["language"] for e in reversed(events) if e.type == "flow.language"), None
        )
        if language is None:
            contact = await self.store.contact(event.contact_id)
            language = (contact.language if contact else None) or self.default_language
        queue = event.queue or event.data.get("queue")
        if queue is None:
            queue = next((e.queue for e in reversed(events) if e.queue), None)
        return language, queue
