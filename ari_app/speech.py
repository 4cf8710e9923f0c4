"""Spoken answers on a live call: the caller's audio, an utterance at a time, to the
recogniser, with barge-in and end-of-speech, through the voice port's one inbox.

The caller's channel is left alone (prompts, bridges and queues work as before): a
snoop channel copies what the caller says (`spy=in`: not our prompts), a mixing
bridge joins it to an external-media channel, and that sends RTP to the controller's
media socket (`ari_app/media.py`). They are made at the call's first spoken question
and removed when the call ends.

What the ear hears becomes inbox events, so speech, keys, prompt ends and hang-ups
are handled in the order they happened:

    HotlineSpeechStarted {utterance}      the caller started talking (stops a prompt)
    HotlineSpeechCancelled {utterance}    it was a click or a cough
    HotlineSpeechResult {utterance, text, confidence}
    HotlineSpeechFailed {utterance, reason}
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ari_app.client import AriClient, AriError, AriEvent
from ari_app.media import FORMAT, SAMPLE_RATE, MediaServer, ulaw_to_pcm
from ari_app.underruns import Underruns
from hotline.flows.port import Answer, Ask, Prompt
from hotline.speech.endpoint import Endpointer, EndpointSettings
from hotline.speech.grammar import Grammar
from hotline.speech.recogniser import Recogniser, RecognitionStream, SpeechUnavailable
from voice.keys import gather

log = logging.getLogger(__name__)

STARTED = "HotlineSpeechStarted"
CANCELLED = "HotlineSpeechCancelled"
RESULT = "HotlineSpeechResult"
FAILED = "HotlineSpeechFailed"
SPEECH_EVENTS = frozenset({STARTED, CANCELLED, RESULT, FAILED})

#: Audio kept from before the start of speech (the endpointer needs a few frames to
#: be sure; the recogniser needs the word's first sound).
PREROLL_SECONDS = 0.3
#: After the longest utterance, how long the result may take before keys are used.
RESULT_GRACE = 3.0
#: How long a new helper channel may take to enter Stasis.
JOIN_WAIT = 2.0
#: The caller's audio stops coming to us this long after the last spoken question
#: (not while they wait in a queue or talk to an agent); the next question reopens it.
IDLE_CLOSE = 10.0
#: How a call's audio helpers are named after the caller's channel id (ari_app/recovery.py
#: finds those a dead controller left by these): the bridge `speech-<caller>`, the snoop
#: channel `<caller>-snoop` (a Snoop/… channel) and the external media channel
#: `<caller>-media` (a UnicastRTP/… channel).
BRIDGE_PREFIX = "speech-"
HELPERS = {"-snoop": "Snoop/", "-media": "UnicastRTP/"}

_ids = itertools.count(1)


def helper_owner(channel: AriEvent) -> str | None:
    """The caller whose audio helper `channel` is (its id and technology both say so),
    or None when it is not one."""
    cid, name = str(channel.get("id") or ""), str(channel.get("name") or "")
    for suffix, technology in HELPERS.items():
        if cid.endswith(suffix) and len(cid) > len(suffix) and name.startswith(technology):
            return cid.removesuffix(suffix)
    return None


def bridge_owner(bridge: AriEvent) -> str | None:
    """The caller whose speech bridge `bridge` is, or None."""
    bid = str(bridge.get("id") or "")
    if not bid.startswith(BRIDGE_PREFIX):
        return None
    return bid.removeprefix(BRIDGE_PREFIX) or None


@dataclass
class SpeechSettings:
    """What every call's spoken answers need, passed in once."""

    recogniser: Recogniser
    media: MediaServer
    app: str  # the Stasis application the helper channels join
    min_confidence: float = 0.6
    max_seconds: float = 6.0
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    #: Queues whose conversations are transcribed live ("*": all; ari_app/live_transcript.py).
    live_queues: frozenset[str] = frozenset()
    #: language -> the live recogniser's vocabulary (absent: free-form).
    live_phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: A folder for each live-transcribed call's audio as the recogniser got it (WAV;
    #: None: not written). For debugging: ari_app/audio_dump.py.
    debug_audio: Path | None = None

    def transcribes_live(self, queue: str) -> bool:
        return "*" in self.live_queues or queue in self.live_queues


class Ear(Protocol):
    """Whoever listens to a call's audio now: a spoken answer's `Utterance`, or a
    conversation's live transcript."""

    def audio(self, pcm: bytes) -> None: ...


class Utterance:
    """One spoken answer: audio in (in the media socket's callback), events out."""

    def __init__(
        self,
        stream: RecognitionStream,
        post: Callable[[AriEvent], None],
        *,
        max_seconds: float,
        endpoint: EndpointSettings,
        sample_rate: int = SAMPLE_RATE,
        underruns: Underruns | None = None,
    ) -> None:
        """`underruns`: takes the snoop's made-up silence out of the audio before the
        end-pointer hears it (ari_app/underruns.py); None: the audio comes filtered
        already (the live transcript filters the whole call's)."""
        self.id = f"u{next(_ids)}"
        self.stream = stream
        self._post = post
        self.max_seconds = max_seconds
        self.sample_rate = sample_rate
        self.endpointer = Endpointer(sample_rate, endpoint)
        self._preroll: collections.deque[bytes] = collections.deque(
            maxlen=max(1, int(PREROLL_SECONDS * sample_rate / 160))
        )
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._spoken = 0.0  # seconds fed since the start of speech
        self.done = False
        #: monotonic time the end of speech was detected (for measurements).
        self.ended_at: float | None = None
        self.underruns = underruns

    def post(self, kind: str, **data: object) -> None:
        if not self.done or kind in (RESULT, FAILED):
            self._post({"type": kind, "utterance": self.id, **data})

    def audio(self, pcm: bytes) -> None:
        if self.underruns is None:
            self._hear(pcm)
            return
        for frame in self.underruns.take(pcm):
            self._hear(frame)

    def _hear(self, pcm: bytes) -> None:
        if self.done or self.ended_at is not None:
            return
        change = self.endpointer.update(pcm)
        if change == "started":
            if self._task is None:  # after a click was cancelled, the same recognition goes on
                self._task = asyncio.get_running_loop().create_task(self._recognise())
            for frame in self._preroll:
                self._queue.put_nowait(frame)
            self._preroll.clear()
            self.post(STARTED)
        elif change == "cancelled":
            self.post(CANCELLED)
        if not self.endpointer.speaking:
            self._preroll.append(pcm)
            return
        self._queue.put_nowait(pcm)
        self._spoken += len(pcm) / 2 / self.sample_rate
        if change == "ended" or self._spoken >= self.max_seconds:
            self.ended_at = time.monotonic()
            self._queue.put_nowait(None)

    async def _recognise(self) -> None:
        try:
            while (pcm := await self._queue.get()) is not None:
                await self.stream.feed(pcm)
            heard = await self.stream.finish()
        except SpeechUnavailable as error:
            self.post(FAILED, reason=error.reason)
            return
        except Exception as error:  # a recogniser failure must not end the call
            log.exception("speech recognition failed")
            self.post(FAILED, reason="failed", detail=str(error))
            return
        self.post(RESULT, text=heard.text, confidence=heard.confidence)

    async def close(self) -> None:
        """Stop listening; an unfinished recognition is abandoned."""
        self.done = True
        if self._task is not None and not self._task.done() and self.ended_at is None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._task is None or self.ended_at is None:
            await self.stream.close()


class CallAudio:
    """The caller's audio for one call: snoop channel, external media, bridge."""

    def __init__(self, ari: AriClient, settings: SpeechSettings, channel_id: str) -> None:
        self.ari = ari
        self.settings = settings
        self.channel_id = channel_id
        self.snoop = f"{channel_id}-snoop"  # HELPERS: recovery recognises these names
        self.external = f"{channel_id}-media"
        self.bridge = f"{BRIDGE_PREFIX}{channel_id}"
        self.source: tuple[str, int] | None = None
        self.listener: Ear | None = None
        self._opening: asyncio.Future[None] | None = None
        self._made: list[str] = []

    def start(self) -> asyncio.Future[None]:
        """Start the caller's audio flowing to us, once per call (a failed start is
        tried again at the next question); the prompt plays meanwhile."""
        failed = (
            self._opening is not None
            and self._opening.done()
            and (self._opening.cancelled() or self._opening.exception() is not None)
        )
        if self._opening is None or failed:
            self._opening = asyncio.ensure_future(self._open())
        return self._opening

    async def _open(self) -> None:
        await self._remove()  # what a failed start left
        host, port = self.settings.media.address
        app = self.settings.app
        await self.ari.request(
            "POST", "bridges", params={"type": "mixing", "bridgeId": self.bridge}
        )
        self._made.append("bridge")
        await self.ari.request(
            "POST",
            f"channels/{self.channel_id}/snoop",
            params={"spy": "in", "app": app, "appArgs": "speech", "snoopId": self.snoop},
        )
        self._made.append("snoop")
        channel = await self.ari.request(
            "POST",
            "channels/externalMedia",
            params={
                "channelId": self.external,
                "app": app,
                "external_host": f"{host}:{port}",
                "format": FORMAT,
                "encapsulation": "rtp",
                "transport": "udp",
                "direction": "both",
                "data": "speech",
            },
        )
        self._made.append("external")
        variables = (channel or {}).get("channelvars") or {}
        local = (variables.get("UNICASTRTP_LOCAL_ADDRESS"), variables.get("UNICASTRTP_LOCAL_PORT"))
        if not all(local):
            local = (
                await self._variable("UNICASTRTP_LOCAL_ADDRESS"),
                await self._variable("UNICASTRTP_LOCAL_PORT"),
            )
        self.source = (str(local[0]), int(str(local[1])))
        self.settings.media.register(self.source, self._audio)
        for helper in (self.snoop, self.external):
            await self._join(helper)

    async def _join(self, helper: str) -> None:
        """Add a helper channel to the bridge once it is in Stasis (it enters a moment
        after it is made: until then ARI answers 422)."""
        deadline = time.monotonic() + JOIN_WAIT
        while True:
            try:
                await self.ari.request(
                    "POST", f"bridges/{self.bridge}/addChannel", params={"channel": helper}
                )
                return
            except AriError as error:
                if error.status != 422 or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.02)

    async def _variable(self, name: str) -> str:
        found = await self.ari.request(
            "GET", f"channels/{self.external}/variable", params={"variable": name}
        )
        return str(found["value"])

    def _audio(self, ulaw: bytes) -> None:
        if self.listener is not None:  # between questions the audio is dropped undecoded
            self.listener.audio(ulaw_to_pcm(ulaw))

    async def close(self) -> None:
        """Remove what `start` made (also after a failed start, or a hang-up)."""
        self.listener = None
        if self._opening is not None:
            with contextlib.suppress(Exception):
                await self._opening  # never leave a half-made set behind
        await self._remove()

    async def _remove(self) -> None:
        self._opening = None if self._opening is None or self._opening.done() else self._opening
        if self.source is not None:
            stats = self.settings.media.unregister(self.source)
            if stats is not None and stats.packets:
                log.info("call %s: caller's audio: %s", self.channel_id, stats.summary())
            self.source = None
        if "external" in self._made:
            with contextlib.suppress(AriError):
                await self.ari.hangup(self.external)
        if "snoop" in self._made:
            with contextlib.suppress(AriError):
                await self.ari.hangup(self.snoop)
        if "bridge" in self._made:
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"bridges/{self.bridge}")
        self._made.clear()


class Listener(Protocol):
    """The call a spoken answer is listened for on (ari_app/voice_port.py)."""

    channel_id: str
    #: Keys the caller typed ahead, for the next answer.
    typeahead: list[str]
    #: The utterance listened for now (barge-in stops a prompt when it starts).
    listening: str | None

    def deliver(self, event: AriEvent) -> None: ...

    def is_caller(self, event: AriEvent) -> bool: ...

    async def ask_keys(self, ask: Ask, language: str) -> Answer: ...

    async def play_prompts(
        self, prompts: Sequence[Prompt], language: str, barge_in: bool
    ) -> bool: ...

    async def next_event(self, timeout: float | None) -> AriEvent | None: ...

    async def next_key(self, timeout: float) -> str | None: ...


class VoiceSpeech:
    """A call's spoken answers: the voice port asks through this when an `Ask` has a
    grammar."""

    def __init__(self, ari: AriClient, settings: SpeechSettings, channel_id: str) -> None:
        self.settings = settings
        self.audio = CallAudio(ari, settings, channel_id)
        self._idle: asyncio.Task[None] | None = None
        self._closing = False

    async def _close_later(self) -> None:
        await asyncio.sleep(IDLE_CLOSE)
        self._closing = True
        try:
            await self.audio.close()
        finally:
            self._closing = False

    async def _stop_idle(self) -> None:
        """Keep the audio for this question: stop the idle timer (or let a close that
        has begun finish, so the question opens afresh)."""
        if self._idle is None or self._idle.done():
            return
        if self._closing:
            await self._idle
        else:
            self._idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle

    async def ask(self, port: Listener, ask: Ask, language: str) -> Answer:
        grammar = ask.speech
        assert grammar is not None
        await self._stop_idle()
        try:
            return await self._ask(port, ask, language, grammar)
        finally:
            self._idle = asyncio.ensure_future(self._close_later())

    async def _ask(self, port: Listener, ask: Ask, language: str, grammar: Grammar) -> Answer:
        try:
            stream = self.settings.recogniser.stream(language, grammar.phrases)
        except SpeechUnavailable as error:
            answer = await port.ask_keys(ask, language)
            return replace(answer, speech_unavailable=error.reason)
        # A gap the snoop made inside a word cut the word (or, as long as the
        # end-pointer's silence, the utterance) in two: a digit heard as ''.
        utterance = Utterance(
            stream,
            port.deliver,
            max_seconds=self.settings.max_seconds,
            endpoint=self.settings.endpoint,
            underruns=Underruns(SAMPLE_RATE),
        )
        opening = self.audio.start()
        try:
            port.listening = utterance.id
            if ask.barge_in:
                self.audio.listener = utterance
            if not port.typeahead:
                await port.play_prompts(ask.prompts, language, ask.barge_in)
            try:
                await opening
            except AriError as error:
                log.warning("call %s: no audio for speech: %s", port.channel_id, error)
                await utterance.close()
                answer = await gather(ask, port.typeahead, port.next_key)
                return replace(answer, speech_unavailable="failed")
            self.audio.listener = utterance
            return await self._answer(port, ask, utterance, grammar)
        finally:
            self.audio.listener = None
            port.listening = None
            await utterance.close()
            if utterance.underruns is not None and utterance.underruns.dropped:
                log.info(
                    "call %s: %d frames of the snoop's silence taken out of an answer (%d gaps)",
                    port.channel_id,
                    utterance.underruns.dropped,
                    utterance.underruns.dropped_runs,
                )

    async def _answer(
        self, port: Listener, ask: Ask, utterance: Utterance, grammar: Grammar
    ) -> Answer:
        """Keys or speech, whichever comes first, after the prompts."""
        speaking = utterance.endpointer.speaking
        deadline = time.monotonic() + (
            self.settings.max_seconds + RESULT_GRACE if speaking else ask.timeout
        )
        while not port.typeahead:
            left = deadline - time.monotonic()
            if left <= 0:
                return Answer("", timed_out=True, speech_unavailable="slow" if speaking else None)
            event = await port.next_event(left)
            if event is None:
                continue
            kind = event["type"]
            if kind == "ChannelDtmfReceived" and port.is_caller(event):
                port.typeahead.append(event["digit"])
                break
            if event.get("utterance") != utterance.id:
                continue
            if kind == STARTED:
                speaking = True
                deadline = time.monotonic() + self.settings.max_seconds + RESULT_GRACE
            elif kind == CANCELLED:
                speaking = False
                deadline = time.monotonic() + ask.timeout
            elif kind == RESULT:
                confidence = float(event["confidence"])
                text = str(event["text"])
                digits = grammar.decide(text, confidence, self.settings.min_confidence)
                return Answer(digits or "", via="speech", text=text, confidence=confidence)
            elif kind == FAILED:
                await utterance.close()
                answer = await gather(ask, port.typeahead, port.next_key)
                return replace(answer, speech_unavailable=str(event["reason"]))
        await utterance.close()  # a key: the caller chose keys for this answer
        return await gather(ask, port.typeahead, port.next_key)

    async def take_audio(self) -> CallAudio:
        """The call's audio for someone else (a conversation's live transcript): kept
        open, no idle close; they close it when done (a later question reopens it)."""
        await self._stop_idle()
        return self.audio

    async def close(self) -> None:
        await self._stop_idle()
        await self.audio.close()
