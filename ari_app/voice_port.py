"""The flow port for a live call over ARI: prompts, barge-in, DTMF collection, recording.

Every event for the call goes through one ordered inbox, so a key press, the end of a
prompt and a hang-up are seen in the order Asterisk sent them: no races, nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ari_app.client import AriClient, AriNotFound, Event
from ari_app.prompts import PromptLibrary
from hotline.flows.port import Answer, Ask, CallerGone, Prompt, Recording, TransferOutcome

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

#: Events that mean the caller is gone.
GONE_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})

#: A prompt that never reports its end is given up on after this long.
PLAYBACK_LIMIT = 600.0


class VoicePort:
    channel = "voice"

    def __init__(self, ari: AriClient, channel_id: str, prompts: PromptLibrary, emit: Emit) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.prompts = prompts
        self.emit = emit
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.typeahead: list[str] = []
        self.gone = False
        self.lost = False  # Asterisk itself went away
        self.hung_up_by_us = False

    def deliver(self, event: Event) -> None:
        """Called by the Stasis app for every event about this channel."""
        self.inbox.put_nowait(event)

    async def _next(self, timeout: float | None) -> Event | None:
        """The next event, None on timeout; CallerGone once the caller has left."""
        if self.gone:
            raise CallerGone()
        try:
            event = await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            return None
        if event["type"] in GONE_EVENTS:
            self.gone = True
            self.lost = bool(event.get("lost"))
            raise CallerGone()
        return event

    async def _ari(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except AriNotFound:
            self.gone = True
            raise CallerGone() from None

    # Prompts

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        await self._play(prompts, language, barge_in)

    async def _play(self, prompts: Sequence[Prompt], language: str, barge_in: bool) -> bool:
        """Play prompts in order; True if a key interrupted them."""
        media = self.prompts.media(prompts, language)
        keys = [p.key or f"{p.say}:{p.value}" for p in prompts]
        for lang, group in itertools.groupby(media, key=lambda pair: pair[1]):
            uris = [uri for uri, _ in group]
            playback_id = str(uuid.uuid4())
            await self._ari(
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
            if kind == "ChannelDtmfReceived" and barge_in:
                self.typeahead.append(event["digit"])
                await self._stop(playback_id)
                return True, "interrupted"
            # Keys during a prompt without barge-in are dropped, as callers expect.

    async def _stop(self, playback_id: str) -> None:
        with contextlib.suppress(AriNotFound):
            await self.ari.stop_playback(playback_id)

    # Input

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        if not self.typeahead:
            await self._play(ask.prompts, language, ask.barge_in)
        digits = ""
        while True:
            if self.typeahead:
                key = self.typeahead.pop(0)
            else:
                wait = ask.inter_digit_timeout if digits else ask.timeout
                key = await self._next_key(wait)
                if key is None:
                    return Answer(digits=digits, timed_out=not digits)
            if ask.finish_key and key == ask.finish_key:
                return Answer(digits=digits)
            digits += key
            if len(digits) >= ask.max_digits or digits in ask.complete_on:
                return Answer(digits=digits)

    async def _next_key(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                return None
            if event["type"] == "ChannelDtmfReceived":
                return event["digit"]
        return None

    # Recording, transfer, hang-up

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        name = f"vm-{self.channel_id}-{uuid.uuid4().hex[:8]}"
        params = {
            "name": name,
            "format": "wav",
            "maxDurationSeconds": int(max_seconds),
            "maxSilenceSeconds": int(silence_seconds),
            "beep": "true" if beep else "false",
            "terminateOn": "#",
            "ifExists": "fail",
        }
        await self._ari(
            self.ari.request("POST", f"channels/{self.channel_id}/record", params=params)
        )
        while True:
            event = await self._next(max_seconds + 30)
            if event is None:
                return Recording(outcome="failed", name=name)
            kind = event["type"]
            if kind in ("RecordingFinished", "RecordingFailed") and (
                event["recording"]["name"] == name
            ):
                recording = event["recording"]
                duration = float(recording.get("duration") or 0)
                if kind == "RecordingFailed":
                    return Recording(outcome="failed", name=name)
                outcome = "recorded" if duration >= 1 else "empty"
                return Recording(outcome=outcome, name=name, duration=duration)

    async def transfer(self, target: str, *, timeout: float) -> TransferOutcome:
        # Transfers arrive with the flow-language work; until then the flow's
        # `failed` outcome is taken so a caller is never stuck.
        await self.emit("transfer.unavailable", {"target": target})
        return "failed"

    async def hangup(self) -> None:
        if self.gone:
            return
        self.hung_up_by_us = True
        with contextlib.suppress(AriNotFound):
            await self.ari.hangup(self.channel_id)
