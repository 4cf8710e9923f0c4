"""An agent sends a card, a link and a file from the desk: stored, then delivered;
a card with a javascript: link, an oversize or disguised file are refused with the
reason and nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat_bridge.agents import DeskError
from chat_bridge.attachments import Attachments
from tests.unit.chat.conftest import Rig
from tests.unit.chat.test_bridge import to_queue

PDF = b"%PDF-1.4 a bill"


async def agent_has_chat(rig: Rig, root: Path) -> tuple[Any, str]:
    rig.bridge.hub.attachments = Attachments(
        root,
        rig.bridge.chats,
        max_bytes=1000,
        types=("application/pdf", "image/png"),
    )
    await rig.routing.login("alice", ["chat"])
    customer = await to_queue(rig)
    offer = await rig.desk_frame("offer")
    await rig.bridge.hub.accept("alice", offer["contact_id"])
    await customer.wait_text("Alice Agent has joined")
    return customer, offer["contact_id"]


async def stored(rig: Rig, customer: Any) -> list[Any]:
    return await rig.bridge.chats.messages(customer.chat.id)


async def test_agent_sends_a_card_and_a_file(rig: Rig, tmp_path: Path) -> None:
    customer, contact = await agent_has_chat(rig, tmp_path / "files")
    card = {
        "type": "card",
        "title": "Roaming <i>abroad</i>",
        "text": "Turn it on in the app.",
        "buttons": [{"label": "How to", "url": "https://example.com/roaming"}],
    }
    await rig.bridge.hub.send("alice", contact, "", "a1", rich=card)
    shown = await customer.wait_text("Roaming <i>abroad</i>")
    assert shown["from"] == "agent" and shown["data"]["rich"] == card
    assert shown["text"] == "Roaming <i>abroad</i>\nTurn it on in the app.\n" + (
        "How to: https://example.com/roaming"
    )
    await rig.bridge.hub.send_file("alice", contact, "../bill<1>.pdf", "application/pdf", PDF)
    sent = await customer.wait_for(lambda f: f.get("kind") == "attachment")
    info = sent["data"]["attachment"]
    assert sent["from"] == "agent" and info["filename"] == "bill_1_.pdf"
    assert info["content_type"] == "application/pdf" and info["size"] == len(PDF)
    kept = await rig.bridge.chats.attachment(info["id"])
    assert kept is not None and kept.session_id == customer.chat.id
    assert rig.bridge.hub.attachments is not None
    assert rig.bridge.hub.attachments.path_of(kept).read_bytes() == PDF


@pytest.mark.parametrize(
    ("rich", "error"),
    [
        (
            {
                "type": "card",
                "title": "T",
                "buttons": [{"label": "x", "url": "javascript:alert(1)"}],
            },
            "card: buttons.0.url: only http and https addresses are sent (scheme 'javascript')",
        ),
        ({"type": "link", "url": "data:text/html,<script>x()</script>"}, "link: url: only http"),
        ({"type": "card", "title": "x" * 201}, "card: title: String should have at most 200"),
        (
            {"type": "file", "attachment": "a", "filename": "f", "content_type": "a/b", "size": 1},
            "a file is sent by uploading it to the chat",
        ),
        ({"type": "script"}, "unknown rich message type 'script'"),
    ],
)
async def test_bad_rich_messages_are_refused_and_nothing_is_stored(
    rig: Rig, tmp_path: Path, rich: dict[str, Any], error: str
) -> None:
    customer, contact = await agent_has_chat(rig, tmp_path / "files")
    before = await stored(rig, customer)
    with pytest.raises(DeskError) as refused:
        await rig.bridge.hub.send("alice", contact, "", "a1", rich=rich)
    assert error in str(refused.value)
    assert await stored(rig, customer) == before


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"%PDF-" + b"x" * 1000, "application/pdf", "the file is over the limit of 1000 bytes"),
        (b"<script>alert(1)</script>", "application/pdf", "the file is not really application/pdf"),
        (b"<html></html>", "text/html", "files of type 'text/html' are not accepted"),
        (b"", "application/pdf", "the file is empty"),
    ],
)
async def test_bad_files_are_refused_and_nothing_is_stored(
    rig: Rig, tmp_path: Path, body: bytes, content_type: str, error: str
) -> None:
    customer, contact = await agent_has_chat(rig, tmp_path / "files")
    before = await stored(rig, customer)
    with pytest.raises(DeskError) as refused:
        await rig.bridge.hub.send_file("alice", contact, "f.pdf", content_type, body)
    assert error in str(refused.value)
    assert await stored(rig, customer) == before
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
