"""Rich messages in each channel's form: the Bot API's native methods (photo, inline
keyboard with links, location, document) and text where it has none; the chat's text
port sending a flow's card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chat_bridge.messengers import telegram_form
from chat_bridge.text_port import Button, Input, TextPort
from hotline.flows.port import Prompt
from hotline.messages import dump, fallback_text, parse_rich

CARD = parse_rich(
    {
        "type": "card",
        "title": "Paying your bill",
        "text": "Pay in your account <b>online</b>.",
        "buttons": [
            {"label": "Your account", "url": "https://example.com/account"},
            {"label": "Talk to us", "value": "agent"},
        ],
    }
)


def frame(message: Any, **data: Any) -> dict[str, Any]:
    return {"text": fallback_text(message), "data": {"rich": dump(message), **data}}


def test_a_card_is_a_message_under_an_inline_keyboard_of_links_and_answers() -> None:
    method, payload = telegram_form(frame(CARD))
    assert method == "sendMessage"
    # Telegram shows text as typed (no parse_mode): markup stays text.
    assert payload["text"] == "Paying your bill\n\nPay in your account <b>online</b>."
    assert payload["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Your account", "url": "https://example.com/account"}],
            [{"text": "Talk to us", "callback_data": "agent"}],
        ]
    }
    assert "parse_mode" not in payload


def test_a_card_with_an_image_is_a_photo_with_its_caption() -> None:
    card = parse_rich({"type": "card", "title": "Map", "image": "https://e.example/m.png"})
    assert telegram_form(frame(card)) == (
        "sendPhoto",
        {"photo": "https://e.example/m.png", "caption": "Map"},
    )
    # A caption too long for a photo: the text with the picture's address.
    long = parse_rich(
        {"type": "card", "title": "Map", "text": "x" * 1100, "image": "https://e.example/m.png"}
    )
    method, payload = telegram_form(frame(long))
    assert method == "sendMessage" and payload["text"].endswith("\nhttps://e.example/m.png")


def test_images_locations_links_and_plain_text() -> None:
    image = parse_rich({"type": "image", "url": "https://e.example/i.jpg", "caption": "Router"})
    assert telegram_form(frame(image)) == (
        "sendPhoto",
        {"photo": "https://e.example/i.jpg", "caption": "Router"},
    )
    place = parse_rich({"type": "location", "latitude": 55.75, "longitude": 37.62})
    assert telegram_form(frame(place)) == ("sendLocation", {"latitude": 55.75, "longitude": 37.62})
    link = parse_rich({"type": "link", "url": "https://e.example/t", "title": "Tariffs"})
    assert telegram_form(frame(link)) == ("sendMessage", {"text": "Tariffs: https://e.example/t"})
    menu = {"text": "Choose", "data": {"buttons": [{"value": "1", "label": "1. Yes"}]}}
    assert telegram_form(menu) == (
        "sendMessage",
        {
            "text": "Choose",
            "reply_markup": {"inline_keyboard": [[{"text": "1. Yes", "callback_data": "1"}]]},
        },
    )


def test_a_file_is_a_document_upload_or_its_name_when_no_longer_kept() -> None:
    sent = {"text": "bill.pdf", "data": {"attachment": {"id": "a1", "filename": "bill.pdf"}}}
    assert telegram_form(sent, ("bill.pdf", "application/pdf", b"%PDF-1")) == (
        "sendDocument",
        {"document": ("bill.pdf", "application/pdf", b"%PDF-1")},
    )
    assert telegram_form(sent, None) == ("sendMessage", {"text": "bill.pdf"})


class Said:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[Button], dict[str, Any]]] = []

    async def say(self, text: str, *, buttons: Sequence[Button] = (), **data: Any) -> None:
        self.messages.append((text, list(buttons), data))

    async def next_input(self, timeout: float) -> Input | None:
        return None

    async def end(self) -> None:
        return None


async def test_the_text_port_sends_a_flows_card_after_its_text() -> None:
    said = Said()
    port = TextPort(said, None)
    await port.play(
        [Prompt(say="text", value="Here:"), Prompt(say="text", value="voice form", rich=CARD)],
        language="en",
        barge_in=True,
    )
    assert said.messages == [
        ("Here:", [], {}),
        (fallback_text(CARD), [Button("agent", "Talk to us")], {"rich": dump(CARD)}),
    ]
