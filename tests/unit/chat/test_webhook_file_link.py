"""A file on the JSON webhook (which carries no files): its name and a keyed link to its
download with `chat.public_url` set, its name alone without it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from chat_bridge.attachments import download_key
from chat_bridge.messengers import Messengers
from hotline.chat_settings import ChatConfig, TelegramSettings, WebhookSettings

SECRET = "webhook-secret-0123456789"
FRAME = {
    "seq": 3,
    "from": "system",
    "text": "price-list.pdf",
    "data": {"attachment": {"id": "a-1", "filename": "price-list.pdf", "size": 10}},
}


def messengers(public_url: str | None) -> Messengers:
    bridge: Any = SimpleNamespace(settings=ChatConfig(public_url=public_url))
    webhook = WebhookSettings(enabled=True, secret=SECRET, reply_url="http://127.0.0.1:9/r")
    return Messengers(bridge, None, TelegramSettings(), webhook)  # type: ignore[arg-type]


def test_a_file_goes_as_a_link_with_a_public_address() -> None:
    text = messengers("https://help.example.com/")._webhook_text(FRAME)
    key = download_key(SECRET, "a-1")
    assert text == f"price-list.pdf: https://help.example.com/chat/attachments/a-1?key={key}"


def test_without_a_public_address_a_file_goes_as_its_name() -> None:
    assert messengers(None)._webhook_text(FRAME) == "price-list.pdf"


def test_other_messages_go_as_their_text() -> None:
    plain = {"seq": 4, "from": "system", "text": "Hello", "data": {}}
    assert messengers("https://help.example.com")._webhook_text(plain) == "Hello"


def test_a_public_address_must_be_a_web_address() -> None:
    with pytest.raises(ValidationError, match="public_url"):
        ChatConfig(public_url="javascript:alert(1)")
