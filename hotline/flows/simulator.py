"""Run flows with no Asterisk: scripted caller input in, a readable transcript out.

Inputs are what the caller does at each question, in order: keys ("2", "1234#"),
"timeout" (silence) or "hangup". Keys beyond what a question takes are typed ahead
into the next one, as on a phone. When the script runs out the caller hangs up.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from hotline.catalogue import Catalogue
from hotline.file_types import type_of
from hotline.flows.interpreter import FlowResult, FlowRunner
from hotline.flows.loader import FlowSet
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
from hotline.flows.services import DefaultServices, HttpFixture, HttpResult, KnowledgeSearch

LineKind = Literal["say", "input", "variable", "language", "node", "error", "end", "action"]


@dataclass(frozen=True)
class Line:
    kind: LineKind
    text: str
    node: str | None = None

    def __str__(self) -> str:
        mark = {"say": "  <", "input": "  >", "node": "", "error": "  !", "end": ""}.get(
            self.kind, "   "
        )
        return f"{mark} {self.text}" if mark else self.text


class SimulatorPort:
    """A FlowPort fed from a script of inputs; it logs what the caller would hear."""

    def __init__(
        self,
        inputs: Iterable[str],
        catalogue: Catalogue | None = None,
        *,
        record: RecordOutcome = "recorded",
        transfer: TransferOutcome = "answered",
        channel: Channel = "voice",
        min_confidence: float = 0.6,
    ) -> None:
        self.inputs = deque(inputs)
        #: Spoken answers below this confidence are not taken (config speech.min_confidence).
        self.min_confidence = min_confidence
        for item in self.inputs:
            if item not in ("timeout", "hangup") and not re.fullmatch(
                r"[0-9*#]+|say:.+|type:.*", item, re.DOTALL
            ):
                raise ValueError(
                    f"input {item!r}: use keys (0-9 * #), 'say:words' (or 'say:words@0.4'"
                    " with a confidence), 'type:text' (typed in a chat), 'timeout' or 'hangup'"
                )
        self.catalogue = catalogue
        self.record_outcome: RecordOutcome = record
        self.transfer_outcome: TransferOutcome = transfer
        self.channel: Channel = channel
        self.typed_ahead = ""
        self.lines: list[Line] = []
        self.said: list[str] = []

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        self._say(prompts, language)

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        self._say(ask.prompts, language)
        if not self.typed_ahead:
            if not self.inputs:
                self.lines.append(Line("input", "(script ended: caller hangs up)"))
                raise CallerGone
            item = self.inputs.popleft()
            if item == "hangup":
                self.lines.append(Line("input", "hangup"))
                raise CallerGone
            if item == "timeout":
                self.lines.append(Line("input", "(silence)"))
                return Answer("", timed_out=True)
            if item.startswith("say:"):
                return self._spoken(ask, item.removeprefix("say:"))
            if item.startswith("type:"):
                return self._typed(ask, item.removeprefix("type:"))
            self.typed_ahead = item
        digits = self._take(ask)
        self.lines.append(Line("input", "***" if ask.sensitive else digits or "(nothing)"))
        return Answer(digits)

    def _spoken(self, ask: Ask, said: str) -> Answer:
        """A spoken answer: `words` or `words@confidence` (1.0 when not given)."""
        text, _, sure = said.rpartition("@") if "@" in said else (said, "", "1")
        confidence = float(sure)
        if ask.speech is None:
            self.lines.append(Line("input", f'said "{text}" (not listened for: silence)'))
            return Answer("", timed_out=True)
        digits = ask.speech.decide(text, confidence, self.min_confidence) or ""
        shown = "***" if ask.sensitive else f'"{text}" ({confidence:g}) -> {digits or "?"}'
        self.lines.append(Line("input", f"said {shown}"))
        return Answer(digits, via="speech", text=text, confidence=confidence)

    def _typed(self, ask: Ask, text: str) -> Answer:
        """Text typed in a chat: a button's value as it is, anything else as written."""
        self.lines.append(Line("input", "***" if ask.sensitive else f"typed {text!r}"))
        digits = text.strip() if text.strip() in ask.complete_on else text.strip()[:200]
        return Answer(digits, via="text", text=text)

    def _take(self, ask: Ask) -> str:
        """Keys for one question; the rest stay typed ahead."""
        digits = ""
        while self.typed_ahead:
            key, self.typed_ahead = self.typed_ahead[0], self.typed_ahead[1:]
            if key == ask.finish_key:
                break
            digits += key
            if digits in ask.complete_on or len(digits) >= ask.max_digits:
                break
        return digits

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        self.lines.append(
            Line("action", f"record (up to {max_seconds:g} s): {self.record_outcome}")
        )
        name = "simulated-recording" if self.record_outcome == "recorded" else None
        return Recording(self.record_outcome, name, 3.0 if name else 0.0)

    async def transfer(self, target: str, *, timeout: float) -> TransferOutcome:
        self.lines.append(Line("action", f"transfer to {target}: {self.transfer_outcome}"))
        return self.transfer_outcome

    async def hangup(self) -> None:
        self.lines.append(Line("action", "hang up"))

    def _say(self, prompts: Sequence[Prompt], language: str) -> None:
        for prompt in prompts:
            lang = prompt.language or language
            if prompt.file is not None:
                # What a chat is sent; a call skips it (voice ports have nothing to send).
                self.said.append(f"file:{prompt.file.name}")
                self.lines.append(Line("say", self._file_line(prompt.file)))
                continue
            if prompt.key is not None:
                self.said.append(prompt.key)
                text = self.catalogue.text(prompt.key, lang) if self.catalogue else None
                shown = f'{prompt.key} [{lang}]: "{text}"' if text else f"{prompt.key} [{lang}]"
            else:
                self.said.append(f"{prompt.say}:{prompt.value}")
                shown = f"({prompt.say} {prompt.value}) [{lang}]"
            self.lines.append(Line("say", shown))

    @staticmethod
    def _file_line(path: Path) -> str:
        try:
            size = f"{path.stat().st_size} bytes"
        except OSError:
            size = "missing"
        kind = type_of(path.name) or "unknown type"
        return f"(file {path.name}, {kind}, {size}: sent to chats; calls hear nothing)"


@dataclass
class Overrides:
    """How the world answers during a simulation."""

    #: Force hours nodes open (True) or closed (False); None follows the schedules.
    hours: bool | None = None
    http: dict[str, HttpFixture] = field(default_factory=dict)
    queue: str = "answered"
    transfer: TransferOutcome = "answered"
    record: RecordOutcome = "recorded"
    now: datetime | None = None
    #: How `callback` nodes' bookings end: booked, or a refusal (already_booked, too_many).
    callback: str = "booked"

    @classmethod
    def from_mapping(cls, data: dict[str, Any], base: Path | None = None) -> Overrides:
        """From a scenario's `overrides:` (hours: open|closed, http: {...} or a file)."""
        unknown = set(data) - {"hours", "http", "queue", "transfer", "record", "now", "callback"}
        if unknown:
            raise ValueError(f"unknown overrides: {', '.join(sorted(unknown))}")
        hours = data.get("hours")
        http = data.get("http") or {}
        if isinstance(http, str):
            http = load_http_fixtures((base or Path()) / http)
        else:
            http = parse_http_fixtures(http)
        return cls(
            hours=None if hours is None else hours in ("open", True),
            http=http,
            queue=data.get("queue", "answered"),
            transfer=data.get("transfer", "answered"),
            record=data.get("record", "recorded"),
            now=data.get("now"),
            callback=data.get("callback", "booked"),
        )


def parse_http_fixtures(data: dict[str, Any]) -> dict[str, HttpFixture]:
    """`{integration: {status: 200, json: {...}} | "timeout"}`."""
    fixtures: dict[str, HttpFixture] = {}
    for target, answer in data.items():
        if answer == "timeout":
            fixtures[target] = "timeout"
        elif isinstance(answer, dict) and isinstance(answer.get("status"), int):
            fixtures[target] = HttpResult(answer["status"], answer.get("json"))
        else:
            raise ValueError(
                f'HTTP fixture {target!r}: use {{"status": 200, "json": ...}} or "timeout"'
            )
    return fixtures


def load_http_fixtures(path: str | Path) -> dict[str, HttpFixture]:
    """Read HTTP fixtures from a JSON file; ValueError names the file and the problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected an object {integration: answer}")
        return parse_http_fixtures(data)
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: HTTP fixtures: {error}") from None


@dataclass
class Transcript:
    """What happened in a simulated contact."""

    flow: str
    inputs: list[str]
    lines: list[Line]
    #: Catalogue keys said, in order (say-prompts as "number:42").
    prompts: list[str]
    result: FlowResult
    events: list[tuple[str, dict[str, Any]]]

    @property
    def outcome(self) -> str:
        return self.result.outcome

    @property
    def variables(self) -> dict[str, Any]:
        return self.result.variables

    @property
    def path(self) -> list[str]:
        return self.result.path

    def __str__(self) -> str:
        return "\n".join(str(line) for line in self.lines)


async def simulate(
    flowset: FlowSet,
    flow: str,
    inputs: Sequence[str],
    overrides: Overrides | None = None,
    *,
    catalogue: Catalogue | None = None,
    language: str = "en",
    variables: dict[str, Any] | None = None,
    services: DefaultServices | None = None,
    max_steps: int = 500,
    knowledge: KnowledgeSearch | None = None,
) -> Transcript:
    """Run `flow` against scripted inputs and return the transcript (`knowledge`: what
    knowledge nodes search, when `services` is not given)."""
    overrides = overrides or Overrides()
    port = SimulatorPort(inputs, catalogue, record=overrides.record, transfer=overrides.transfer)
    if services is None:
        services = DefaultServices(
            hours_open=overrides.hours,
            http_fixtures=dict(overrides.http),
            queue_outcome=overrides.queue,
            callback_outcome=overrides.callback,
            knowledge=knowledge,
        )
        if overrides.now is not None:
            now = overrides.now
            services.clock = lambda: now
    events: list[tuple[str, dict[str, Any]]] = []

    async def emit(type: str, data: dict[str, Any]) -> None:
        events.append((type, data))
        line = _event_line(type, data)
        if line is not None:
            port.lines.append(line)

    runner = FlowRunner(flowset, port, services, emit, max_steps=max_steps)
    result = await runner.run(flow, variables, language)
    return Transcript(flow, list(inputs), port.lines, port.said, result, events)


def _event_line(type: str, data: dict[str, Any]) -> Line | None:
    node = data.get("node")
    match type:
        case "flow.node":
            return Line("node", f"[{node}] {data['type']}", node)
        case "flow.variable":
            return Line("variable", f"{data['name']} = {data['value']!r}")
        case "flow.language":
            return Line("language", f"language -> {data['language']}")
        case "flow.outcome" if data["outcome"] != "next":
            return Line("action", f"{data['outcome']} -> {data['next']}", node)
        case "knowledge.answered":
            return Line("action", f"answer: {data['article']} ({data['confidence']:g})", node)
        case "knowledge.unanswered":
            return Line("action", f"unanswered (tried: {', '.join(data['tried']) or '-'})", node)
        case "flow.error":
            return Line("error", f"error at {node}: {data['message']}", node)
        case "flow.ended":
            return Line("end", f"outcome: {data['outcome']}", node)
    return None
