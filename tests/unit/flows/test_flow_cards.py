"""A flow sends a card from a `play` node: checked when the flow loads (a javascript:
link is refused with file, line and field), shown as a card on text channels and as its
text on voice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from chat_bridge.text_port import Button, Input, TextPort
from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet, parse_flow
from hotline.flows.port import Prompt
from hotline.flows.services import DefaultServices
from hotline.yamlsource import SourceError

FLOW = """\
name: cards
start: offer
nodes:
  offer:
    type: play
    prompts:
      - say: text
        value: "Our tariffs:"
      - card:
          type: card
          title: "Tariffs <b>2027</b>"
          text: "Cheaper calls abroad."
          image: https://example.com/tariffs.png
          buttons:
            - {label: Read more, url: "URL"}
    next: bye
  bye:
    type: hangup
"""


class Said:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[Button], dict[str, Any]]] = []

    async def say(self, text: str, *, buttons: Sequence[Button] = (), **data: Any) -> None:
        self.messages.append((text, list(buttons), data))

    async def next_input(self, timeout: float) -> Input | None:
        return None

    async def end(self) -> None:
        return None


async def test_a_flows_card_goes_out_as_a_card() -> None:
    loaded = parse_flow(FLOW.replace("URL", "https://example.com/tariffs"), "cards.yaml")
    said = Said()
    runner = FlowRunner(FlowSet({"cards": loaded}), TextPort(said, None), DefaultServices())
    result = await runner.run("cards")
    assert result.outcome == "completed"
    (intro, _b, _d), (text, buttons, data) = said.messages
    assert intro == "Our tariffs:"
    assert text == (
        "Tariffs <b>2027</b>\nCheaper calls abroad.\nRead more: https://example.com/tariffs"
    )
    assert buttons == []
    assert data["rich"] == {
        "type": "card",
        "title": "Tariffs <b>2027</b>",
        "text": "Cheaper calls abroad.",
        "image": "https://example.com/tariffs.png",
        "buttons": [{"label": "Read more", "url": "https://example.com/tariffs"}],
    }


class Voice:
    """A voice port's side: what it is asked to play."""

    def __init__(self) -> None:
        self.played: list[Prompt] = []

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        self.played += prompts

    async def hangup(self) -> None:
        return None


async def test_a_voice_port_gets_the_cards_text() -> None:
    loaded = parse_flow(FLOW.replace("URL", "https://example.com/tariffs"), "cards.yaml")
    voice = Voice()
    runner = FlowRunner(FlowSet({"cards": loaded}), voice, DefaultServices())  # type: ignore[arg-type]
    await runner.run("cards")
    card = voice.played[1]
    assert (card.say, card.key) == ("text", None)
    assert card.value == (
        "Tariffs <b>2027</b>\nCheaper calls abroad.\nRead more: https://example.com/tariffs"
    )


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("javascript:alert(1)", "only http and https addresses are sent (scheme 'javascript')"),
        ("data:text/html,x", "only http and https addresses are sent (scheme 'data')"),
    ],
)
def test_a_bad_card_is_refused_with_file_and_line(url: str, error: str) -> None:
    with pytest.raises(SourceError) as refused:
        parse_flow(FLOW.replace("URL", url), "cards.yaml")
    text = str(refused.value)
    assert "cards.yaml:" in text and error in text


def test_a_card_prompt_has_nothing_else() -> None:
    flow = FLOW.replace("URL", "https://e.example").replace(
        "      - card:\n", "      - key: hello\n        card:\n"
    )
    with pytest.raises(SourceError, match="a `card` prompt has no `key`, `say` or `value`"):
        parse_flow(flow, "cards.yaml")


def test_prompt_rich_defaults_to_none() -> None:
    assert Prompt(key="x").rich is None


LINK_AND_IMAGE = """\
name: rich
start: offer
nodes:
  offer:
    type: play
    prompts:
      - card: {type: link, url: "https://example.com/tariffs", title: Our tariffs}
      - card: {type: image, url: "https://example.com/map.png", caption: Our shops}
    next: bye
  bye:
    type: hangup
"""


async def test_a_flow_sends_a_link_and_an_image() -> None:
    loaded = parse_flow(LINK_AND_IMAGE, "rich.yaml")
    said = Said()
    runner = FlowRunner(FlowSet({"rich": loaded}), TextPort(said, None), DefaultServices())
    assert (await runner.run("rich")).outcome == "completed"
    (link_text, _b1, link), (image_text, _b2, image) = said.messages
    assert link_text == "Our tariffs: https://example.com/tariffs"
    assert link["rich"] == {
        "type": "link",
        "url": "https://example.com/tariffs",
        "title": "Our tariffs",
    }
    assert image_text == "Our shops\nhttps://example.com/map.png"
    assert image["rich"] == {
        "type": "image",
        "url": "https://example.com/map.png",
        "caption": "Our shops",
    }


@pytest.mark.parametrize(
    ("prompt", "error"),
    [
        ('{type: link, url: "ftp://example.com/x"}', "only http and https addresses are sent"),
        ('{type: image, caption: "no address"}', "missing required field 'url'"),
        ("{type: location, latitude: 1, longitude: 2}", "one of 'card', 'link', 'image', got"),
        ("{type: file, attachment: a1, filename: x.pdf, content_type: x/y, size: 1}", "got 'file'"),
    ],
)
def test_what_a_flow_cannot_send_is_refused_with_file_and_line(prompt: str, error: str) -> None:
    flow = LINK_AND_IMAGE.replace(
        '{type: link, url: "https://example.com/tariffs", title: Our tariffs}', prompt
    )
    with pytest.raises(SourceError) as refused:
        parse_flow(flow, "rich.yaml")
    text = str(refused.value)
    assert "rich.yaml:7:" in text and error in text, text
