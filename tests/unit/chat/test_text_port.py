"""The flow as text: prompts from the catalogue (chat variants first), menus as
buttons, typed answers, the voice-only steps' text forms, inactivity."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chat_bridge.text_port import Button, Input, TextPort, answer_text, buttons_for, render
from hotline.catalogue import Catalogue
from hotline.flows.port import Ask, CallerGone, Prompt

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = Catalogue.load(ROOT / "sounds" / "catalogue.yaml")


class Chat:
    """A conversation whose customer answers from a script (None: silence)."""

    def __init__(self, answers: Sequence[str | None] = ()) -> None:
        self.answers = list(answers)
        self.said: list[tuple[str, dict[str, Any]]] = []
        self.ended = False

    async def say(self, text: str, *, buttons: Sequence[Button] = (), **data: Any) -> None:
        self.said.append((text, {"buttons": [b.value for b in buttons], **data}))

    async def next_input(self, timeout: float) -> Input | None:
        answer = self.answers.pop(0) if self.answers else None
        return None if answer is None else Input(answer, seq=7)

    async def end(self) -> None:
        self.ended = True


def test_render_uses_chat_texts_and_values() -> None:
    prompts = [Prompt(key="survey_satisfaction"), Prompt(say="digits", value="1234")]
    assert render(CATALOGUE, prompts, "en") == (
        "How satisfied were you with this chat? Choose 1 (poor) to 5 (excellent). 1 2 3 4"
    )
    assert render(CATALOGUE, [Prompt(key="goodbye")], "ru").startswith("Спасибо, что написали")
    # A prompt forced into a language, and a key with no text at all (shown as the key).
    assert render(CATALOGUE, [Prompt(key="welcome", language="ru")], "en").startswith("Добро")
    assert render(CATALOGUE, [Prompt(key="no_such_prompt")], "en") == "no_such_prompt"


def test_menu_buttons_are_labelled_from_the_catalogue() -> None:
    buttons = buttons_for(CATALOGUE, [Prompt(key="chat_menu")], ["1", "2", "3"], "ru")
    assert [(b.value, b.label) for b in buttons] == [
        ("1", "1. Часы работы"),
        ("2", "2. Чат с оператором"),
        ("3", "3. Оставить сообщение"),
    ]
    assert [b.label for b in buttons_for(CATALOGUE, [], ["9"], "en")] == ["9"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("2", "2"), (" 2 ", "2"), ("chat with an agent", "2"), ("2. Chat with an agent", "2"),
     ("Opening hours.", "1"), ("something else", "something else")],
)  # fmt: skip
def test_menu_answers(typed: str, expected: str) -> None:
    buttons = buttons_for(CATALOGUE, [Prompt(key="chat_menu")], ["1", "2", "3"], "en")
    ask = Ask(prompts=[], complete_on=frozenset({"1", "2", "3"}))
    assert answer_text(ask, Input(typed), buttons) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("123456", "123456"), ("123 456", "123456"), ("+44 (20) 7946-0958", "+442079460958"),
     ("1234#", "1234"), ("my number is 12", "my number is 12")],
)  # fmt: skip
def test_collect_answers(typed: str, expected: str) -> None:
    ask = Ask(prompts=[], max_digits=20, finish_key="#")
    assert answer_text(ask, Input(typed), []) == expected


async def test_ask_shows_buttons_and_takes_the_answer() -> None:
    chat = Chat(["2"])
    port = TextPort(chat, CATALOGUE)
    ask = Ask(prompts=[Prompt(key="chat_language")], complete_on=frozenset({"1", "2"}))
    answer = await port.ask(ask, language="en")
    assert answer.digits == "2" and answer.via == "text"
    text, data = chat.said[0]
    assert text == "Please choose your language." and data["buttons"] == ["1", "2"]
    assert data["expects"] == "choice"


async def test_silence_reminds_then_closes() -> None:
    chat = Chat([None, None])
    port = TextPort(chat, CATALOGUE, reminder_after=0.01, close_after=0.01)
    with pytest.raises(CallerGone):
        await port.ask(Ask(prompts=[Prompt(key="account_prompt")]), language="en")
    assert [t for t, _ in chat.said][1:] == [
        "Are you still there? The chat will close soon if we do not hear from you.",
        "We closed this chat as we did not hear from you. Write again at any time to reopen it.",
    ]
    assert chat.said[-1][1]["closing"] == "inactivity"


async def test_a_reply_after_the_reminder_goes_on() -> None:
    chat = Chat([None, "42"])
    answer = await TextPort(chat, CATALOGUE).ask(Ask(prompts=[]), language="en")
    assert answer.digits == "42"


async def test_voice_only_steps_have_text_forms() -> None:
    chat = Chat(["Please call me about my bill"])
    port = TextPort(chat, CATALOGUE)
    recording = await port.record(max_seconds=60, beep=True, silence_seconds=3, language="en")
    assert recording.outcome == "recorded" and recording.name == "chat-message-7"
    assert chat.said[0][0] == "Please type your message and send it."
    assert await port.transfer("1001", timeout=10) == "failed"
    await port.hangup()
    assert chat.ended


def test_every_chat_text_exists_in_every_language() -> None:
    keys = [k for k in CATALOGUE.prompts if k.startswith("chat_") or k.endswith(".chat")]
    assert len(keys) > 20
    for key in keys:
        for language in CATALOGUE.languages:
            assert CATALOGUE.text(key, language), f"{key} has no {language} text"


def test_port_is_a_flow_port() -> None:
    port = TextPort(Chat(), CATALOGUE)
    assert port.channel == "chat"
    assert asyncio.iscoroutinefunction(port.ask)
