"""The flow port for a live call over ARI: prompts, barge-in, DTMF collection,
recording and transfer.

Every event for the call goes through one ordered inbox, so a key press, the end of a
prompt and a hang-up are seen in the order Asterisk sent them: no races, nothing lost.
During a transfer the inbox also gets the events of the outbound leg (the Stasis app
routes them here while the port `follow`s that channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ari_app.client import AriClient, AriError, AriEvent, AriNotFound
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import RINGBACK, clean_up, connect, originate, unanswered
from ari_app.speech import STARTED as SPEECH_STARTED
from ari_app.speech import VoiceSpeech
from hotline.flows.port import (
    Answer,
    Ask,
    CallerGone,
    Channel,
    Prompt,
    Recording,
    RecordOutcome,
    TransferOutcome,
)
from voice.dialing import dial_string
from voice.keys import gather
from voice.prompts import PromptLibrary
from voice.recordings import Recordings

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

T = TypeVar("T")

#: A prompt that never reports its end is given up on after this long.
PLAYBACK_LIMIT = 600.0

#: After a hang-up during a recording, how long to wait for Asterisk to report the
#: finished file (it does, just after the hang-up events).
RECORDING_SETTLE = 2.0


class VoicePort:
    channel: Channel = "voice"

    def __init__(
        self,
        ari: AriClient,
        channel_id: str,
        prompts: PromptLibrary,
        emit: Emit,
        *,
        recordings: Recordings,
        agents: frozenset[str] = frozenset(),
        follow: Callable[[str, bool], None] = lambda channel_id, on: None,
        caller_id: str = "",
        speech: VoiceSpeech | None = None,
    ) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.prompts = prompts
        self.emit = emit
        self.recordings = recordings
        self.agents = agents
        #: Ask the Stasis app to route another channel's events here (True) or stop.
        self.follow = follow
        self.caller_id = caller_id
        self.inbox: asyncio.Queue[AriEvent] = asyncio.Queue()
        self.typeahead: list[str] = []
        self.gone = False
        self.lost = False  # Asterisk itself went away
        self.hung_up_by_us = False
        self.transferred = False
        #: Spoken answers (None: keys only), and the utterance listened for now.
        self.speech = speech
        self.listening: str | None = None
        self._answering: asyncio.Future[None] | None = None  # an answer sent early
        #: The channel's music-on-hold class (`CHANNEL(musicclass)`) as far as Hotline
        #: knows (None: not known; ari_app/holding.py sets it only when it differs).
        self.music_class: str | None = None
        #: The call's owner settles the port when the call ends (ari_app/call.py): a
        #: conversation may then leave the caller in its bridge (`left_in`) until the
        #: port next acts on them (`settle`), so a call that ends there needs no leave.
        self.lazy_leave = False
        self.left_in: str | None = None

    def deliver(self, event: AriEvent) -> None:
        """Called by the Stasis app for every event about this channel."""
        self.inbox.put_nowait(event)

    async def _next(self, timeout: float | None) -> AriEvent | None:
        """The next event, None on timeout; CallerGone once the caller has left."""
        if self.gone:
            raise CallerGone()
        inbox = self.inbox
        if not inbox.empty() and (timeout is None or timeout > 0):
            event = inbox.get_nowait()  # already here: no timer, no loop turn
        elif timeout is None:
            event = await inbox.get()
        elif timeout <= 0:
            return None  # a deadline that has passed goes before an event that waits
        else:
            try:
                # Not wait_for: that makes a task of the get, each time.
                async with asyncio.timeout(timeout):
                    event = await inbox.get()
            except TimeoutError:
                return None
        if event["type"] in GONE_EVENTS and channel_of(event) == self.channel_id:
            self.gone = True
            self.lost = bool(event.get("lost"))
            raise CallerGone()
        return event

    async def guarded(self, call: Awaitable[T]) -> T:
        """Await an ARI request about the call; CallerGone if the caller's channel, or
        Asterisk itself, is gone."""
        try:
            return await call
        except AriNotFound:
            self.gone = True
            raise CallerGone() from None
        except AriError as error:
            if not error.unreachable:
                raise
            # Asterisk itself went away: the call is lost with it (not a flow error).
            self.gone = self.lost = True
            raise CallerGone() from None

    async def answer(self) -> None:
        answering, self._answering = self._answering, None
        if answering is None:
            await self.guarded(self.ari.answer(self.channel_id))
        else:
            await answering

    def start_answer(self) -> None:
        """Send the answer now, while the caller's contact is being opened (a store
        write): `answer` then waits for this one instead of asking again. Whatever
        becomes of it is `answer`'s to raise; unread, it is not reported twice."""
        answering = asyncio.ensure_future(self.guarded(self.ari.answer(self.channel_id)))
        answering.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._answering = answering

    # Prompts

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        await self._play(prompts, language, barge_in)

    async def _play(self, prompts: Sequence[Prompt], language: str, barge_in: bool) -> bool:
        """Play prompts in order; True if a key interrupted them."""
        await self.settle()
        await self.prompts.speak(prompts, language)
        media = self.prompts.media(prompts, language)
        keys = [p.key or f"{p.say}:{p.value}" for p in prompts]
        for lang, group in itertools.groupby(media, key=lambda pair: pair[1]):
            uris = [uri for uri, _ in group]
            playback_id = str(uuid.uuid4())
            await self.guarded(
                self.ari.play(self.channel_id, uris, lang=lang, playback_id=playback_id)
            )
            interrupted, state = await self._wait_playback(playback_id, barge_in)
            await self.emit(
                "prompt.played",
                {"prompts": keys, "media": uris, "language": lang, "state": state},
            )
            if interrupted:
                return True
        return False

    async def _wait_playback(self, playback_id: str, barge_in: bool) -> tuple[bool, str]:
        deadline = time.monotonic() + PLAYBACK_LIMIT
        while True:
            event = await self._next(max(0.0, deadline - time.monotonic()))
            if event is None:
                await self._stop(playback_id)
                return False, "timeout"
            kind = event["type"]
            if kind == "PlaybackFinished" and event["playback"]["id"] == playback_id:
                return False, event["playback"].get("state", "done")
            if kind == "ChannelDtmfReceived" and barge_in and channel_of(event) == self.channel_id:
                self.typeahead.append(event["digit"])
                await self._stop(playback_id)
                return True, "interrupted"
            if kind == SPEECH_STARTED and barge_in and event.get("utterance") == self.listening:
                await self._stop(playback_id)  # the caller is answering: stop talking
                return True, "interrupted"
            # Keys during a prompt without barge-in are dropped, as callers expect.

    async def _stop(self, playback_id: str) -> None:
        with contextlib.suppress(AriNotFound):
            await self.ari.stop_playback(playback_id)

    # Input

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        await self.settle()
        if ask.speech is not None:
            if self.speech is not None:
                return await self.speech.ask(self, ask, language)
            answer = await self.ask_keys(ask, language)
            return dataclasses.replace(answer, speech_unavailable="no_model")
        return await self.ask_keys(ask, language)

    async def ask_keys(self, ask: Ask, language: str) -> Answer:
        """Say the prompts and collect keys (no speech)."""
        await self.settle()
        if not self.typeahead:
            await self._play(ask.prompts, language, ask.barge_in)
        return await gather(ask, self.typeahead, self._next_key)

    # What spoken answers (ari_app/speech.py) build on.

    async def play_prompts(self, prompts: Sequence[Prompt], language: str, barge_in: bool) -> bool:
        """Play prompts; True if a key or the caller's speech interrupted them."""
        return await self._play(prompts, language, barge_in)

    async def next_event(self, timeout: float | None) -> AriEvent | None:
        return await self._next(timeout)

    async def next_key(self, timeout: float) -> str | None:
        return await self._next_key(timeout)

    def is_caller(self, event: AriEvent) -> bool:
        return channel_of(event) == self.channel_id

    async def close_speech(self) -> None:
        """The call is over: remove the helper channels that carried its audio."""
        if self.speech is not None:
            await self.speech.close()

    async def _next_key(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                return None
            if event["type"] == "ChannelDtmfReceived" and channel_of(event) == self.channel_id:
                return str(event["digit"])
        return None

    # Recording

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        """Record into the spool's recording folder; the file is logged with the
        contact (`recording.saved`), also when the caller hangs up mid-message, which
        is how most voicemails end."""
        await self.settle()
        name = f"vm-{self.channel_id}-{uuid.uuid4().hex[:8]}"
        params = {
            "name": name,
            "format": "wav",
            "maxDurationSeconds": math.ceil(max_seconds),
            "maxSilenceSeconds": int(silence_seconds),
            "beep": "true" if beep else "false",
            "terminateOn": "#",
            "ifExists": "fail",
        }
        await self.guarded(
            self.ari.request("POST", f"channels/{self.channel_id}/record", params=params)
        )
        try:
            finished = await self._recording_finished(name, max_seconds + 30)
        except CallerGone:
            finished = await self._settled_recording(name)
            if finished is not None:
                await self._recorded(name, finished, ended_by="caller_hangup")
            raise
        if finished is None:
            await self.emit("recording.failed", {"name": name, "reason": "no end reported"})
            return Recording(outcome="failed", name=name)
        return await self._recorded(name, finished, ended_by="flow")

    async def _recording_finished(self, name: str, timeout: float) -> AriEvent | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                break
            if _is_recording(event, name):
                return event
        return None

    async def _settled_recording(self, name: str) -> AriEvent | None:
        """After the caller hung up: the recording's last event, if it comes soon."""
        deadline = time.monotonic() + RECORDING_SETTLE
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self.inbox.get(), left)
            except TimeoutError:
                return None
            if _is_recording(event, name):
                return event
        return None

    async def _recorded(self, name: str, event: AriEvent, *, ended_by: str) -> Recording:
        if event["type"] == "RecordingFailed":
            cause = event["recording"].get("cause") or "recording failed"
            await self.emit("recording.failed", {"name": name, "reason": cause})
            return Recording(outcome="failed", name=name)
        recording = event["recording"]
        duration = float(recording.get("duration") or recording.get("talking_duration") or 0)
        outcome: RecordOutcome = "recorded" if duration >= 1 else "empty"
        await self.emit(
            "recording.saved", self.recordings.event(name, duration, outcome, ended_by=ended_by)
        )
        return Recording(outcome=outcome, name=name, duration=duration)

    # Transfer

    async def transfer(
        self, target: str, *, timeout: float, endpoint: str | None = None
    ) -> TransferOutcome:
        """Ring the target (a flow's target, or the `endpoint` already chosen: an agent's
        blind transfer to a number, `call_control.py`); when it answers, bridge it with
        the caller and stay until one side hangs up.

        - The target hangs up first: the bridge goes, the caller stays, and the flow
          goes on from `answered` (a survey, a goodbye).
        - The caller hangs up first: the target is hung up, the bridge goes, and the
          flow ends as a hang-up; the contact ends "transferred", not "abandoned".
        Either way the outbound channel and the bridge are gone when this returns.
        """
        await self.settle()
        if endpoint is None:
            try:
                endpoint = dial_string(target, self.agents)
            except ValueError as error:
                await self.emit("transfer.failed", {"target": target, "reason": str(error)})
                return "failed"
        leg = f"{self.channel_id}-xfer-{uuid.uuid4().hex[:8]}"
        ring = f"ring-{leg}"
        bridge: str | None = None
        self.follow(leg, True)
        await self.emit("transfer.started", {"target": target, "endpoint": endpoint, "leg": leg})
        try:
            await self.guarded(
                self.ari.play(self.channel_id, [RINGBACK], lang="en", playback_id=ring)
            )
            try:
                await originate(
                    self.ari,
                    endpoint=endpoint,
                    leg=leg,
                    args=f"transfer,{self.channel_id}",
                    originator=self.channel_id,
                    ring_seconds=timeout,
                    caller_id=self.caller_id,
                )
            except AriError as error:
                await self.emit("transfer.failed", {"target": target, "reason": str(error)})
                return "failed"
            outcome, cause = await self._ringing(leg, timeout)
            await self._stop(ring)
            if outcome != "answered":
                await self.emit(
                    "transfer.ended", {"target": target, "outcome": outcome, "cause": cause}
                )
                return outcome
            bridge = f"xfer-{leg}"
            await self.guarded(connect(self.ari, bridge, self.channel_id, leg))
            self.transferred = True
            await self.emit("transfer.answered", {"target": target, "bridge": bridge})
            started = time.monotonic()
            try:
                await self.until_gone(leg)
            except CallerGone:
                await self.emit(
                    "transfer.ended",
                    {
                        "target": target,
                        "outcome": "answered",
                        "ended_by": "caller",
                        "talk_seconds": round(time.monotonic() - started, 1),
                    },
                )
                raise
            await self.emit(
                "transfer.ended",
                {
                    "target": target,
                    "outcome": "answered",
                    "ended_by": "target",
                    "talk_seconds": round(time.monotonic() - started, 1),
                },
            )
            return "answered"
        finally:
            await self._clean_transfer(leg, ring, bridge)

    async def _ringing(self, leg: str, timeout: float) -> tuple[TransferOutcome, int | None]:
        """Wait for the leg to answer (StasisStart) or end; (outcome, hang-up cause)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                break
            if channel_of(event) != leg:
                continue  # the caller's keys and the ringback's events: nothing to do
            if event["type"] == "StasisStart":
                return "answered", None
            if event["type"] == "ChannelDestroyed":
                cause = int(event.get("cause") or 0)
                return unanswered(cause), cause
        return "no_answer", None

    async def until_gone(self, leg: str) -> None:
        """Until the target leaves (returns) or the caller does (CallerGone)."""
        while True:
            event = await self._next(None)
            if event is not None and channel_of(event) == leg and event["type"] in GONE_EVENTS:
                return

    async def _clean_transfer(self, leg: str, ring: str, bridge: str | None) -> None:
        with contextlib.suppress(AriError):
            await self.ari.stop_playback(ring)
        if bridge is not None and not self.gone:
            await self.leave_bridge(bridge)
        await clean_up(self.ari, leg, bridge)
        self.follow(leg, False)

    async def leave_bridge(self, bridge: str) -> None:
        """Take the caller out of `bridge` before it is destroyed: removing is done
        when ARI answers, while a destroyed bridge lets its channels go later, and a
        prompt played meanwhile could be lost with it."""
        with contextlib.suppress(AriError):
            await self.ari.request(
                "POST", f"bridges/{bridge}/removeChannel", params={"channel": self.channel_id}
            )

    async def settle(self) -> None:
        """The caller out of the bridge a conversation left them in (`left_in`), which
        then goes: before anything else is played to or done with them."""
        bridge, self.left_in = self.left_in, None
        if bridge is None:
            return
        if not self.gone:
            await self.leave_bridge(bridge)
        await clean_up(self.ari, None, bridge)

    async def hangup(self) -> None:
        if self.gone:
            await self.settle()
            return
        self.hung_up_by_us = True
        # Hung up in the bridge a conversation left them in: no leave, the bridge after.
        bridge, self.left_in = self.left_in, None
        try:
            with contextlib.suppress(AriNotFound):
                await self.ari.hangup(self.channel_id)
        finally:
            await clean_up(self.ari, None, bridge)


def _is_recording(event: AriEvent, name: str) -> bool:
    return (
        event["type"] in ("RecordingFinished", "RecordingFailed")
        and event["recording"]["name"] == name
    )
