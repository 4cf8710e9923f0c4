"""The knowledge node and menu intents, run by the simulator on a real knowledge base."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from hotline.catalogue import Catalogue
from hotline.flows.loader import FlowSet, parse_flow
from hotline.flows.services import DefaultServices
from hotline.flows.simulator import Transcript, simulate
from hotline.knowledge import KnowledgeBase
from hotline.knowledge.intents import label_of
from hotline.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[3]

FLOW = """
name: bot
start: ask
nodes:
  ask:
    type: knowledge
    prompt: kb_ask
    threshold: 0.6
    on: {answered: bye, unanswered: agent}
  agent:
    type: queue
    queue: support
    on: {other: bye}
  bye: {type: hangup}
"""

MENU = """
name: menu
start: menu
nodes:
  menu:
    type: menu
    prompt: chat_menu
    options: {"1": hours, "2": agent, "3": bill}
    intents:
      "1": {en: [opening hours, when are you open], ru: [часы работы]}
      "2": {en: [talk to an agent, human], ru: [оператор]}
      "3": {en: [pay my bill, billing], ru: [оплатить счёт]}
    max_failures: 1
    on: {exhausted: bye}
  hours: {type: hangup, outcome: hours}
  agent: {type: hangup, outcome: agent}
  bill: {type: hangup, outcome: bill}
  bye: {type: hangup, outcome: none}
"""


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    kb = KnowledgeBase(store, ["en", "ru"])
    await kb.load()
    assert await kb.sync_files(ROOT / "knowledge") == []
    yield kb
    await store.close()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.load(ROOT / "sounds" / "catalogue.yaml")


async def run(
    kb: KnowledgeBase | None,
    catalogue: Catalogue,
    inputs: list[str],
    text: str = FLOW,
    language: str = "en",
) -> tuple[Transcript, DefaultServices]:
    flows = FlowSet.of(parse_flow(dedent(text), "flow.yaml"))
    services = DefaultServices(knowledge=kb)
    name = flows.names()[0]
    transcript = await simulate(
        flows, name, inputs, catalogue=catalogue, language=language, services=services
    )
    return transcript, services


def of(transcript: Transcript, kind: str) -> list[dict[str, Any]]:
    return [data for type_, data in transcript.events if type_ == kind]


async def test_confident_answer_that_helped(kb: KnowledgeBase, catalogue: Catalogue) -> None:
    transcript, services = await run(kb, catalogue, ["type:How can I pay my bill?", "1"])
    assert transcript.result.outcome == "completed"
    assert transcript.path == ["ask", "bye"]
    answered = of(transcript, "knowledge.answered")
    assert [(a["article"], a["chosen"]) for a in answered] == [("pay-bill", False)]
    assert of(transcript, "knowledge.feedback") == [
        {"flow": "bot", "node": "ask", "article": "pay-bill", "helpful": True}
    ]
    said = "\n".join(transcript.prompts)
    assert "Pay in your account" in said and "Your account: https://example.com/account" in said
    assert transcript.result.variables["kb_article"] == "pay-bill"
    assert services.enqueued == []


async def test_not_helped_twice_goes_to_an_agent_with_what_was_tried(
    kb: KnowledgeBase, catalogue: Catalogue
) -> None:
    transcript, services = await run(
        kb, catalogue, ["type:my internet is not working", "2", "type:no internet at all", "2"]
    )
    assert transcript.path == ["ask", "agent", "bye"]
    variables = services.enqueued[0].variables
    assert variables["kb_question"] == "no internet at all"
    assert variables["kb_tried"].startswith("The internet does not work (internet-down)")
    unanswered = of(transcript, "knowledge.unanswered")[0]
    assert unanswered["tried"][0] == "internet-down"
    # The second question never offers the article that did not help.
    assert of(transcript, "knowledge.searched")[1]["articles"][:1] != ["internet-down"]


async def test_unsure_offers_the_closest_as_buttons(
    kb: KnowledgeBase, catalogue: Catalogue
) -> None:
    transcript, _ = await run(kb, catalogue, ["type:money", "1", "1"])
    assert "kb_closest" in transcript.prompts
    answered = of(transcript, "knowledge.answered")
    assert answered and answered[0]["chosen"] is True
    assert transcript.result.outcome == "completed"


async def test_a_question_typed_instead_of_a_choice_is_searched(
    kb: KnowledgeBase, catalogue: Catalogue
) -> None:
    inputs = ["type:money", "type:what are your opening hours", "1"]
    transcript, _ = await run(kb, catalogue, inputs)
    searched = [s["question"] for s in of(transcript, "knowledge.searched")]
    assert searched == ["money", "what are your opening hours"]
    assert of(transcript, "knowledge.answered")[0]["article"] == "opening-hours"


async def test_empty_and_too_long_questions_are_asked_again(
    kb: KnowledgeBase, catalogue: Catalogue
) -> None:
    transcript, services = await run(kb, catalogue, ["type:   ", "type:" + "x" * 10_000])
    assert {"kb_question_empty", "kb_question_too_long"} <= set(transcript.prompts)
    assert of(transcript, "knowledge.searched") == []
    assert [i["result"] for i in of(transcript, "flow.input")] == ["invalid", "invalid"]
    assert transcript.path == ["ask", "agent", "bye"]
    assert services.enqueued[0].variables["kb_question"] == ""


async def test_russian_question(kb: KnowledgeBase, catalogue: Catalogue) -> None:
    transcript, _ = await run(kb, catalogue, ["type:как узнать баланс", "1"], language="ru")
    assert of(transcript, "knowledge.answered")[0]["article"] == "balance"
    assert 'kb_helped [ru]: "Это помогло?"' in str(transcript)
    assert "kb_helped" in transcript.prompts


async def test_no_knowledge_base_is_a_flow_error(catalogue: Catalogue) -> None:
    transcript, _ = await run(None, catalogue, ["type:pay my bill"])
    errors = of(transcript, "flow.error")
    assert errors and "no knowledge base" in errors[0]["message"]


@pytest.mark.parametrize(
    ("typed", "outcome"),
    [
        ("I want to pay my bill", "bill"),
        ("when are you open on sunday?", "hours"),
        ("can I talk to a human please", "agent"),
        ("хочу оплатить счёт", "bill"),  # another language than the chat's
        ("3", "bill"),  # keys still work
    ],
)
async def test_menu_intents(catalogue: Catalogue, typed: str, outcome: str) -> None:
    transcript, _ = await run(None, catalogue, [f"type:{typed}"], MENU)
    assert transcript.result.outcome == outcome


async def test_ambiguous_intent_asks_back_with_the_candidates(catalogue: Catalogue) -> None:
    transcript, _ = await run(None, catalogue, ["type:is billing open", "1"], MENU)
    assert "menu_which" in transcript.prompts
    assert transcript.result.outcome == "hours"


async def test_unmatched_text_is_an_invalid_answer(catalogue: Catalogue) -> None:
    transcript, _ = await run(None, catalogue, ["type:the weather is nice"], MENU)
    assert transcript.result.outcome == "none"
    assert [i["result"] for i in of(transcript, "flow.input")] == ["invalid"]


class Chat:
    """The chat side of a TextPort: what the flow said, and what the customer sends."""

    def __init__(self, *sent: str) -> None:
        self.sent = list(sent)
        self.messages: list[tuple[str, list[tuple[str, str]]]] = []

    async def say(self, text: str, *, buttons: Any = (), **data: Any) -> None:
        self.messages.append((text, [(b.value, b.label) for b in buttons]))

    async def next_input(self, timeout: float) -> Any:
        from chat_bridge.text_port import Input

        return Input(self.sent.pop(0)) if self.sent else None

    async def end(self) -> None:
        pass


async def test_in_a_chat_the_closest_articles_are_buttons(
    kb: KnowledgeBase, catalogue: Catalogue
) -> None:
    from chat_bridge.text_port import TextPort
    from hotline.flows.interpreter import FlowRunner

    chat = Chat("money <script>x</script>", "1", "1")
    flows = FlowSet.of(parse_flow(dedent(FLOW), "flow.yaml"))

    async def emit(type_: str, data: dict[str, Any]) -> None:
        pass

    port = TextPort(chat, catalogue)
    result = await FlowRunner(flows, port, DefaultServices(knowledge=kb), emit).run("bot", {}, "en")
    assert result.outcome == "completed"
    closest = next(m for m in chat.messages if m[0].startswith("I am not sure"))
    labels = dict(closest[1])
    assert labels["0"] == "0. None of these" and len(labels) >= 2
    assert all(label.split(". ", 1)[1] for label in labels.values())
    helped = chat.messages[-1]
    assert helped == ("Did this help?", [("1", "1. Yes"), ("2", "2. No")])


def test_an_option_asked_back_is_labelled_by_its_first_phrase() -> None:
    intents = {"2": {"en": ["talk to an agent", "operator"]}, "4": {"ru": ["у меня вопрос"]}}
    assert label_of("2", "en", intents) == "Talk to an agent"
    assert label_of("4", "en", intents) == "У меня вопрос"  # no English phrase: another's
    assert label_of("9", "en", intents) == "9"
