"""The port a running flow talks to.

The interpreter is channel-neutral: it decides *what* happens next and asks a port to
do it. The voice runtime (ARI or FastAGI), the text runtime (chat) and the simulator
each implement `FlowPort`. A port raises `CallerGone` from any call once the caller
has hung up or the chat has closed; the interpreter ends the flow with outcome
"hangup" when it sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from hotline.messages import Card, File, Image, Link, Location
from hotline.speech.grammar import Grammar

Channel = Literal["voice", "chat"]
SayAs = Literal["number", "digits", "date", "time", "text"]


class CallerGone(Exception):
    """The caller hung up (or the chat was closed): the flow cannot go on."""


@dataclass(frozen=True)
class Prompt:
    """One thing to say: a catalogue key, or a value spoken as a number, digits, a date.

    `language` forces a language for this prompt (a language menu says each option in
    its own language); None means the contact's current language.

    `rich` is a card, link or image a text channel shows as such (hotline/messages.py);
    voice ports say `value` (its text form) instead.

    `file` is a file a text channel sends as the chat's attachment (a `file:` prompt,
    resolved inside the flows' files folder); its `value` is empty, so voice ports and
    the simulator's voice say nothing for it.
    """

    key: str | None = None
    say: SayAs | None = None
    value: str | None = None
    language: str | None = None
    rich: Card | Link | Image | File | Location | None = None
    file: Path | None = None


@dataclass(frozen=True)
class Ask:
    """Collect keys from the caller after (or during, with barge-in) the prompts.

    Digits typed ahead (during an earlier barge-in prompt) count first. Collection
    ends when `max_digits` are in, the `finish_key` is pressed (not included in the
    answer), `timeout` passes with no first key after the prompts end, or
    `inter_digit_timeout` passes between keys. `complete_on` lists answers that end
    collection at once (a menu's single-key options), so "1" is acted on without
    waiting for the inter-digit timeout.
    """

    prompts: Sequence[Prompt]
    max_digits: int = 1
    timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    finish_key: str | None = None
    barge_in: bool = True
    complete_on: frozenset[str] = field(default_factory=frozenset)
    sensitive: bool = False
    #: Also take a spoken answer from this grammar (ports without speech ignore it
    #: and answer with keys, setting `Answer.speech_unavailable`).
    speech: Grammar | None = None
    #: A free-text question (the knowledge node): the answer's `text` is what was typed.
    free_text: bool = False
    #: Labels for `complete_on` answers that are not catalogue texts (article titles,
    #: intent candidates): answer -> label; text channels show them as buttons.
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """What the caller keyed (or typed, on chat). `digits` is "" when nothing came."""

    digits: str
    timed_out: bool = False
    via: Literal["dtmf", "speech", "text"] = "dtmf"
    #: A spoken answer (via="speech"): what was heard and how sure the recogniser was.
    #: `digits` is "" when it was not understood well enough to count.
    text: str = ""
    confidence: float | None = None
    #: Speech was asked for but could not be used this time ("busy", "no_model", …).
    speech_unavailable: str | None = None


RecordOutcome = Literal["recorded", "empty", "failed"]
TransferOutcome = Literal["answered", "busy", "no_answer", "failed"]


@dataclass(frozen=True)
class Recording:
    outcome: RecordOutcome
    name: str | None = None
    duration: float = 0.0


class FlowPort(Protocol):
    """What a channel must offer a running flow."""

    channel: Channel

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        """Say the prompts. With barge_in a key press stops them; the key is kept
        (typed ahead) for the next `ask`. Without barge_in keys pressed meanwhile
        are dropped."""

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        """Say the prompts and collect an answer (see `Ask`)."""

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        """Record the caller (voicemail) until silence, '#', or max_seconds."""

    async def transfer(self, target: str, *, timeout: float) -> TransferOutcome:
        """Connect the contact to an extension or SIP URI."""

    async def hangup(self) -> None:
        """End the contact from our side."""
