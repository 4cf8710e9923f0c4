"""The flow port over FastAGI: the same nodes as over ARI, with classic AGI commands.

- prompts: STREAM FILE (recordings and catalogue texts), SAY NUMBER / DIGITS / ALPHA
  (values); with barge-in every key is an escape digit, and the key that stopped a
  prompt is kept for the next question;
- input: WAIT FOR DIGIT, key by key, for the first-key and inter-digit timeouts;
- record: RECORD FILE into the recording folder ARI uses, with beep and silence stop;
- transfer: EXEC Dial (option g: the caller stays when the target hangs up), then
  DIALSTATUS; like the ARI port it returns when the conversation is over;
- queue: EXEC Stasis(<app>,queue,…) hands the channel to the ARI side, which queues
  it and sends it back with the outcome in HOTLINE_QUEUE_OUTCOME (see `handoff`);
- hangup: HANGUP.
Any command on a channel that hung up raises CallerGone, as the flow expects.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agi.protocol import AgiChannel, AgiError, AgiHangup, AgiResponse, quote
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
from hotline.flows.services import QueueRequest
from voice import handoff
from voice.dialing import dial_string
from voice.keys import gather
from voice.prompts import PromptLibrary
from voice.recordings import Recordings

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

ALL_KEYS = "0123456789*#"
#: Dial's outcome (DIALSTATUS) -> the transfer node's outcome.
DIAL_OUTCOMES: dict[str, TransferOutcome] = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
}


class AgiPort:
    channel: Channel = "voice"

    def __init__(
        self,
        agi: AgiChannel,
        prompts: PromptLibrary,
        emit: Emit,
        *,
        recordings: Recordings,
        agents: frozenset[str],
        ari_app: str,
    ) -> None:
        self.agi = agi
        self.prompts = prompts
        self.emit = emit
        self.recordings = recordings
        self.agents = agents
        self.ari_app = ari_app
        self.channel_id = agi.env.get("agi_uniqueid", "")
        self.typeahead: list[str] = []
        self.language: str | None = None  # the channel's language, once we set it
        self.lost = False  # an AGI connection has no "Asterisk went away" of its own
        self.hung_up_by_us = False
        self.transferred = False

    @property
    def gone(self) -> bool:
        return self.agi.hung_up

    async def _do(self, *words: str, timeout: float = 30.0) -> AgiResponse:
        try:
            return await self.agi.command(*words, timeout=timeout)
        except AgiHangup:
            raise CallerGone() from None

    async def _alive_after_failure(self) -> None:
        """A command answered result=-1: that is a hang-up, unless the channel lives."""
        await self._do("CHANNEL STATUS")

    async def answer(self) -> None:
        await self._do("ANSWER")

    # Prompts

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        await self._play(prompts, language, barge_in)

    async def _play(self, prompts: Sequence[Prompt], language: str, barge_in: bool) -> bool:
        """Play prompts in order; True if a key interrupted them. One `prompt.played`
        per language, as the ARI port logs them."""
        await self.prompts.speak(prompts, language)
        keys = [p.key or f"{p.say}:{p.value}" for p in prompts]
        escape = quote(ALL_KEYS if barge_in else "")
        for lang, group in itertools.groupby(
            self.prompts.media(prompts, language), key=lambda pair: pair[1]
        ):
            await self._set_language(lang)
            played: list[str] = []
            state = "done"
            for uri, _ in group:
                response = await self._do(*_say(uri), escape, timeout=600)
                played.append(uri)
                if response.result < 0:
                    await self._alive_after_failure()  # a missing sound: say the rest
                elif response.result > 0:
                    self.typeahead.append(chr(response.result))
                    state = "interrupted"
                    break
            await self.emit(
                "prompt.played",
                {"prompts": keys, "media": played, "language": lang, "state": state},
            )
            if state == "interrupted":
                return True
        return False

    async def _set_language(self, language: str) -> None:
        # Core sounds (digits, numbers) are looked up in the channel's language.
        if language != self.language:
            await self._do("SET VARIABLE", quote("CHANNEL(language)"), quote(language))
            self.language = language

    # Input

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        if not self.typeahead:
            await self._play(ask.prompts, language, ask.barge_in)
        return await gather(ask, self.typeahead, self._wait_key)

    async def _wait_key(self, seconds: float) -> str | None:
        response = await self._do("WAIT FOR DIGIT", str(int(seconds * 1000)), timeout=seconds + 10)
        if response.result < 0:
            await self._alive_after_failure()
            return None
        return chr(response.result) if response.result > 0 else None

    # Recording

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        name = f"vm-{self.channel_id}-{uuid.uuid4().hex[:8]}"
        words = [
            "RECORD FILE",
            quote(self.recordings.asterisk_path(name).removesuffix(".wav")),
            "wav",
            quote("#"),
            str(int(max_seconds * 1000)),
            "0",  # offset: a new file
        ]
        if beep:
            words.append("BEEP")
        if silence_seconds:
            words.append(f"s={int(silence_seconds)}")
        try:
            response = await self.agi.command(*words, timeout=max_seconds + 30)
        except AgiHangup:
            raise CallerGone() from None
        except AgiError as error:
            await self.emit("recording.failed", {"name": name, "reason": str(error)})
            return Recording(outcome="failed", name=name)
        # endpos is in samples at 8 kHz, wav being 8 kHz 16-bit mono.
        duration = int(response.field("endpos") or 0) / 8000
        if response.result < 0 and response.data not in ("hangup",):
            await self.emit("recording.failed", {"name": name, "reason": response.data})
            return Recording(outcome="failed", name=name)
        outcome: RecordOutcome = "recorded" if duration >= 1 else "empty"
        ended_by = "caller_hangup" if response.data == "hangup" else "flow"
        await self.emit(
            "recording.saved", self.recordings.event(name, duration, outcome, ended_by=ended_by)
        )
        if response.data == "hangup":
            raise CallerGone()
        return Recording(outcome=outcome, name=name, duration=duration)

    # Transfer and hand-off

    async def transfer(self, target: str, *, timeout: float) -> TransferOutcome:
        """Dial the target; returns when it does not answer or the conversation ends
        (the same semantics as the ARI port: see ari_app/voice_port.py)."""
        try:
            endpoint = dial_string(target, self.agents)
        except ValueError as error:
            await self.emit("transfer.failed", {"target": target, "reason": str(error)})
            return "failed"
        await self.emit("transfer.started", {"target": target, "endpoint": endpoint})
        response = await self._do(
            "EXEC", "Dial", quote(f"{endpoint},{max(1, round(timeout))},g"), timeout=24 * 3600
        )
        status = await self._variable("DIALSTATUS")
        outcome = DIAL_OUTCOMES.get(status, "failed")
        if outcome == "answered":
            self.transferred = True
        data: dict[str, Any] = {"target": target, "outcome": outcome, "dial_status": status}
        if outcome == "answered":
            data["talk_seconds"] = float(await self._variable("ANSWEREDTIME") or 0)
            data["ended_by"] = "caller" if response.result < 0 else "target"
        await self.emit("transfer.ended", data)
        if response.result < 0 or status == "CANCEL":
            raise CallerGone()
        return outcome

    async def handoff(self, request: QueueRequest, contact_id: str) -> str:
        """Hand the channel to the ARI side's routing engine; its queue outcome."""
        args = ",".join((self.ari_app, "queue", *handoff.encode(request, contact_id)))
        response = await self._do("EXEC", "Stasis", quote(args), timeout=24 * 3600)
        if response.result < 0:
            await self._alive_after_failure()
        outcome = await self._variable(handoff.QUEUE_OUTCOME_VARIABLE)
        if not outcome and self.agi.hung_up:
            # The ARI side gives back a live channel with its outcome; none, and the
            # HANGUP notice seen: the caller left while queued or talking to the agent.
            raise CallerGone()
        return outcome or "error"

    async def _variable(self, name: str) -> str:
        response = await self._do("GET VARIABLE", quote(name))
        return response.data if response.result == 1 else ""

    async def hangup(self) -> None:
        if self.gone:
            return
        self.hung_up_by_us = True
        with contextlib.suppress(AgiHangup):
            await self.agi.command("HANGUP")


def _say(uri: str) -> list[str]:
    """The AGI command for one ARI-style media URI (what PromptLibrary produces)."""
    kind, _, value = uri.partition(":")
    if kind == "number":
        return ["SAY NUMBER", value]
    if kind == "digits":
        return ["SAY DIGITS", value]
    if kind == "characters":
        return ["SAY ALPHA", quote(value)]
    if kind == "sound":
        return ["STREAM FILE", quote(value)]
    raise AgiError(f"cannot play {uri!r} over AGI")
