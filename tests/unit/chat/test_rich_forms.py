"""Rich messages in each channel's form: the Bot API's native methods (photo, inline
keyboard with links, location, document) and text where it has none; the chat's text
port sending a flow's card."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from chat_bridge.attachments import Attachments
from chat_bridge.messengers import Messengers, telegram_form
from chat_bridge.text_port import Button, Input, TextPort
from hotline.chat_settings import TelegramSettings, WebhookSettings
from hotline.flows.port import Prompt
from hotline.messages import dump, fallback_text, parse_rich
from hotline.store.chats import ChatAttachment

NOW = datetime(2026, 12, 6, tzinfo=UTC)

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


async def test_an_agents_file_goes_to_telegram_as_an_uploaded_document(tmp_path: Path) -> None:
    """telegram_send over HTTP: sendDocument as multipart/form-data with the file's bytes."""
    got: list[tuple[str, dict[str, Any]]] = []

    async def take(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            got.append((request.path, await request.json()))
            return web.json_response({"ok": True})
        form = await request.post()
        fields: dict[str, Any] = {}
        for key, value in form.items():
            fields[key] = (
                (value.filename, value.content_type, value.file.read())
                if isinstance(value, web.FileField)
                else value
            )
        got.append((request.path, fields))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", take)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        root = tmp_path / "files"
        (root / "s1").mkdir(parents=True)
        (root / "s1" / "a1").write_bytes(b"%PDF-1.4 bill")
        kept = ChatAttachment("a1", "s1", "bill.pdf", "application/pdf", 13, "x", "s1/a1", NOW)
        chats = SimpleNamespace(attachment=lambda _id: _found(kept if _id == "a1" else None))
        bridge = SimpleNamespace(attachments=Attachments(root, chats, 100, ()), chats=chats)  # type: ignore[arg-type]
        settings = TelegramSettings(
            enabled=True,
            api_base=str(server.make_url("")).rstrip("/"),
            token="123:abcdefghijkl",
            webhook_secret="s" * 20,
        )
        messengers = Messengers(bridge, http, settings, WebhookSettings())  # type: ignore[arg-type]
        chat = SimpleNamespace(id="s1", session=SimpleNamespace(external_id="777"))
        frame = {"text": "bill.pdf", "data": {"attachment": {"id": "a1", "filename": "bill.pdf"}}}
        await messengers.telegram_send(chat, frame)  # type: ignore[arg-type]
        # Another chat's file is not sent: its name only.
        other = SimpleNamespace(id="s2", session=SimpleNamespace(external_id="888"))
        await messengers.telegram_send(other, frame)  # type: ignore[arg-type]
    assert got == [
        (
            "/bot123:abcdefghijkl/sendDocument",
            {"document": ("bill.pdf", "application/pdf", b"%PDF-1.4 bill"), "chat_id": "777"},
        ),
        ("/bot123:abcdefghijkl/sendMessage", {"text": "bill.pdf", "chat_id": "888"}),
    ]


async def _found(value: Any) -> Any:
    return value
