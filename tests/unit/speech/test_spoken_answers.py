"""Menus and collect nodes answered by voice, through the interpreter: what counts,
what is asked again, when keys take over, and a busy recogniser."""

from collections.abc import Sequence
from dataclasses import replace
from textwrap import dedent
from typing import Any

from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet, parse_flow
from hotline.flows.port import Answer, Ask, Prompt
from hotline.flows.services import DefaultServices
from hotline.flows.simulator import SimulatorPort

MENU = """
name: t
start: menu
nodes:
  menu:
    type: menu
    prompt: main_menu
    invalid_prompt: invalid_option
    options: {"1": billing, "2": agent}
    speech:
      phrases:
        "1": {en: [billing, my bill], ko: [요금]}
        "2": {en: [agent]}
      retries: 1
      fallback_prompt: use_keys
    on: {exhausted: bye}
  billing: {type: play, prompts: opening_hours, next: bye}
  agent: {type: play, prompts: goodbye, next: bye}
  bye: {type: hangup}
"""

COLLECT = """
name: t
start: account
nodes:
  account:
    type: collect
    into: account
    prompt: account_prompt
    min_digits: 3
    max_digits: 6
    speech: {languages: [ko], min_confidence: 0.5}
    on: {ok: bye, invalid: bye}
  bye: {type: hangup}
"""


class Events(list):
    async def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.append((kind, data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self if k == kind]


def flows(text: str) -> FlowSet:
    return FlowSet.of(parse_flow(dedent(text), "t.yaml"))


async def run(text: str, port: Any, language: str = "en") -> tuple[Any, Events]:
    events = Events()
    result = await FlowRunner(flows(text), port, DefaultServices(), events).run(
        "t", language=language
    )
    return result, events


async def test_a_spoken_option_is_taken():
    port = SimulatorPort(["say:My bill@0.9"])
    result, events = await run(MENU, port)
    assert result.path == ["menu", "billing", "bye"]
    assert events.of("speech.recognised") == [
        {"node": "menu", "text": "My bill", "confidence": 0.9, "language": "en", "fallback": None}
    ]
    assert events.of("flow.input")[0]["digits"] == "1"


async def test_low_confidence_is_asked_again_then_keys_only():
    port = SimulatorPort(["say:agent@0.3", "say:agent@0.4", "say:agent@0.99", "2"])
    result, events = await run(MENU, port)
    fallbacks = [e["fallback"] for e in events.of("speech.recognised")]
    # retries: 1 -> asked again once by voice, then speech is given up for the node;
    # the third answer is not listened for (silence), the key then chooses.
    assert fallbacks == ["again", "keys"]
    assert [e["result"] for e in events.of("flow.input")] == [
        "invalid",
        "invalid",
        "timeout",
        "match",
    ]
    assert port.said[:5] == [
        "main_menu",
        "invalid_option",
        "main_menu",
        "use_keys",
        "invalid_option",
    ]
    assert result.path == ["menu", "agent", "bye"]


async def test_words_that_are_no_option_count_as_not_understood():
    port = SimulatorPort(["say:billing agent", "1"])
    result, events = await run(MENU, port)
    assert events.of("speech.recognised")[0]["fallback"] == "again"
    assert result.path == ["menu", "billing", "bye"]


async def test_no_listening_in_a_language_without_phrases():
    asks: list[Ask] = []

    class Port(SimulatorPort):
        async def ask(self, ask: Ask, *, language: str) -> Answer:
            asks.append(ask)
            return await super().ask(ask, language=language)

    await run(MENU, Port(["1"]), language="ru")
    assert asks[0].speech is None
    await run(MENU, Port(["1"]), language="ko")
    assert asks[1].speech is not None and asks[1].speech.phrases == ["요금"]


class BusyPort(SimulatorPort):
    """A voice port whose recogniser is busy: it answers with keys at once."""

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        answer = await super().ask(replace(ask, speech=None), language=language)
        return replace(answer, speech_unavailable="busy") if ask.speech else answer

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        await super().play(prompts, language=language, barge_in=barge_in)


async def test_a_busy_recogniser_falls_back_to_keys_without_losing_the_answer():
    result, events = await run(MENU, BusyPort(["2"]))
    assert events.of("speech.recognised") == [
        {"node": "menu", "text": "", "confidence": None, "language": "en", "fallback": "busy"}
    ]
    assert events.of("flow.input")[0] == {
        "flow": "t",
        "node": "menu",
        "digits": "2",
        "result": "match",
    }
    assert result.path == ["menu", "agent", "bye"]


async def test_collect_takes_spoken_digits():
    port = SimulatorPort(["say:일 이 삼 사@0.8"])
    result, events = await run(COLLECT, port, language="ko")
    assert result.variables["account"] == "1234"
    assert events.of("speech.recognised")[0]["fallback"] is None


async def test_collect_spoken_digits_are_still_validated_and_masked_when_sensitive():
    text = COLLECT.replace("max_digits: 6", "max_digits: 6\n    sensitive: true")
    port = SimulatorPort(["say:일 이@0.9", "say:일 이 삼@0.2", "timeout"])
    result, events = await run(text, port, language="ko")
    assert result.outcome == "completed" and "account" not in result.public_variables()
    heard = events.of("speech.recognised")
    assert [h["text"] for h in heard] == ["***", "***"]
    # "12" is too short (invalid); 0.2 is below the node's 0.5 (not understood).
    assert [h["fallback"] for h in heard] == [None, "again"]
    assert [e["result"] for e in events.of("flow.input")] == ["invalid", "invalid", "timeout"]
