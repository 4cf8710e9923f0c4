"""A conversation's live transcript: what the caller says to the agent, an utterance
at a time, recognised and logged while the call goes on, for the agent's desk
(hotline/web/assist_api.py shows it and suggests articles from the latest words).

The caller's audio comes exactly as for spoken answers (ari_app/speech.py's
`CallAudio`: a `spy=in` snoop channel, a mixing bridge and an external-media channel
to the controller's media socket), so only the caller's side is heard: the agent's
side would need a second snoop (`spy=out`) and a second recognition slot per call,
and the agent's words are not what suggestions are for. Each utterance is cut by the
same end-pointer as spoken answers (`Utterance`) and recognised with the language's
`speech.live_phrases` as the vocabulary, or free-form when there are none.

    call.transcribed {utterance, text, confidence, side, language}
    call.transcription_stopped {utterance, reason}    the recogniser failed, was busy
                                                      or too slow, or no audio came

Started when caller and agent are connected (ari_app/conversation.py), paused (its
channels removed) while the call is on hold, stopped and removed when the
conversation ends or is transferred. A recogniser failure stops only the transcript:
the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ari_app.audio_dump import AudioDump
from ari_app.client import AriError, AriEvent
from ari_app.speech import (
    FAILED,
    RESULT,
    RESULT_GRACE,
    CallAudio,
    SpeechSettings,
    Utterance,
    VoiceSpeech,
)
from ari_app.underruns import Underruns
from hotline.speech.recogniser import SpeechUnavailable

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

#: The longest utterance cut: a caller explaining goes on longer than an answer.
MAX_UTTERANCE = 12.0
#: Call control steps that take the caller away from the agent, and bring them back.
PAUSE_ON = frozenset({"call.held"})
RESUME_ON = frozenset({"call.resumed"})


class Audio(Protocol):
    """The caller's audio (ari_app/speech.py's CallAudio)."""

    listener: Any
    channel_id: str

    def start(self) -> asyncio.Future[None]: ...

    async def close(self) -> None: ...


class LiveTranscript:
    """One conversation's live transcript (see the module docstring)."""

    def __init__(self, audio: Audio, settings: SpeechSettings, language: str, emit: Emit) -> None:
        self.caller_audio = audio
        self.settings = settings
        self.language = language
        self.emit = emit
        self.phrases = settings.live_phrases.get(language)
        self.count = 0  # utterances started (their numbers)
        self.heard = 0  # utterances logged
        self.stopped: str | None = None  # why it stopped early
        self.current: Utterance | None = None
        self._numbers: dict[str, int] = {}
        self._logging: set[asyncio.Task[None]] = set()
        self._finishing: list[Utterance] = []  # ended, being recognised
        self.running = False
        #: The snoop's made-up silence, taken out before the end-pointer hears it.
        self.underruns = Underruns(settings.recogniser.sample_rate)
        #: The audio as the recogniser got it, to a WAV file (`speech.debug_audio`).
        self.dump: AudioDump | None = None
        if settings.debug_audio is not None:
            name = f"{audio.channel_id}-live"
            self.dump = AudioDump(settings.debug_audio, name, settings.recogniser.sample_rate)

    async def start(self) -> bool:
        """Listen to the caller; False (nothing left open) when it cannot."""
        if self.stopped is not None or self.running:
            return self.running
        if not self._next():
            return False
        try:
            await self.caller_audio.start()
        except AriError as error:
            log.warning("live transcript: no audio: %s", error)
            await self._stop_early("no_audio")
            await self._close()  # the utterance's slot too
            return False
        self.caller_audio.listener = self
        self.running = True
        return True

    def _next(self) -> bool:
        """A new utterance to listen for (a recognition slot); False when refused."""
        try:
            stream = self.settings.recogniser.stream(self.language, self.phrases)
        except SpeechUnavailable as error:
            self.current = None
            self._spawn(self._fail(error.reason))
            return False
        self.count += 1
        self.current = Utterance(
            stream,
            self._post,
            max_seconds=MAX_UTTERANCE,
            endpoint=self.settings.endpoint,
        )
        self._numbers[self.current.id] = self.count
        return True

    def audio(self, pcm: bytes) -> None:
        """The caller's audio (CallAudio calls this): cut into utterances."""
        for frame in self.underruns.take(pcm):
            current = self.current
            if current is None:
                return
            if self.dump is not None:
                self.dump.write(frame)
            current.audio(frame)
            if current.ended_at is not None:  # its recognition finishes; listen for the next
                self._finishing.append(current)
                self._next()

    def _post(self, event: AriEvent) -> None:
        number = self._numbers.get(str(event.get("utterance")), 0)
        if event["type"] == RESULT:
            self._numbers.pop(str(event["utterance"]), None)
            if str(event["text"]).strip():
                self._spawn(self._log(number, str(event["text"]), float(event["confidence"])))
        elif event["type"] == FAILED:
            self._spawn(self._fail(str(event["reason"])))

    async def _log(self, number: int, text: str, confidence: float) -> None:
        self.heard += 1
        await self.emit(
            "call.transcribed",
            {
                "utterance": number,
                "text": text,
                "confidence": confidence,
                "side": "caller",
                "language": self.language,
            },
        )

    async def _fail(self, reason: str) -> None:
        await self._stop_early(reason)
        await self.stop()

    async def _stop_early(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            log.warning("live transcript stopped: %s", reason)
            await self.emit(
                "call.transcription_stopped", {"utterance": self.heard, "reason": reason}
            )

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._logging.add(task)
        task.add_done_callback(self._logging.discard)

    async def pause(self) -> None:
        """On hold: the caller's audio channels go; `start` brings them back."""
        await self._close()

    async def stop(self) -> None:
        """The conversation is over: nothing left open, the last results logged."""
        await self._close()
        if self.dump is not None:
            self.dump.close()
        if self.underruns.dropped:
            log.info(
                "live transcript %s: %d frames of the snoop's silence taken out (%d gaps)",
                self.caller_audio.channel_id,
                self.underruns.dropped,
                self.underruns.dropped_runs,
            )
        ended, self._finishing = self._finishing, []
        finishing = [u._task for u in ended if u._task is not None]
        if finishing:  # the caller's last words, logged before the conversation's end
            await asyncio.wait(finishing, timeout=RESULT_GRACE)
        for utterance in ended:  # a failed or late recognition still holds its slot
            await utterance.close()
            await utterance.stream.close()
        current = asyncio.current_task()
        for task in [t for t in self._logging if t is not current]:
            with contextlib.suppress(Exception):
                await task

    async def _close(self) -> None:
        self.running = False
        self.underruns.reset()
        if self.caller_audio.listener is self:
            self.caller_audio.listener = None
        current, self.current = self.current, None
        if current is not None:
            await current.close()
        await self.caller_audio.close()

    def watch(self, emit: Emit) -> Emit:
        """`emit` that also pauses the transcript on hold and resumes it after."""

        async def watched(kind: str, data: dict[str, Any]) -> None:
            await emit(kind, data)
            if kind in PAUSE_ON:
                await self.pause()
            elif kind in RESUME_ON and not data.get("ended"):  # ended on hold: nothing to hear
                await self.start()

        return watched


async def live_transcript(
    speech: VoiceSpeech | None, queue: str, language: str, emit: Emit
) -> LiveTranscript | None:
    """A started live transcript for a conversation of `queue`, or None: not configured
    for the queue, no speech, or no model for the caller's language (then nothing is
    logged: suggestions come from the rest, as without speech)."""
    settings = speech.settings if speech is not None else None
    if speech is None or settings is None or not settings.transcribes_live(queue):
        return None
    if language not in settings.recogniser.languages():
        return None
    audio: CallAudio = await speech.take_audio()
    live = LiveTranscript(audio, settings, language, emit)
    await live.start()
    return live
