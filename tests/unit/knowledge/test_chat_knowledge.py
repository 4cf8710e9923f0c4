"""The demo chat flow with the knowledge base, through the real chat bridge: words pick
the menu option, a question is answered, one that is not is handed to an agent whose
desk card shows the question and the articles tried."""

from __future__ import annotations

from pathlib import Path

from hotline.knowledge import KnowledgeBase
from tests.unit.chat.conftest import Rig, make_rig

ROOT = Path(__file__).resolve().parents[3]


async def with_knowledge(rig: Rig) -> None:
    kb, problems = await KnowledgeBase.open(rig.store, ["en", "ru"], ROOT / "knowledge")
    assert problems == []
    rig.services.knowledge = kb


async def test_answered_then_handed_to_an_agent_with_what_was_tried(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await with_knowledge(rig)
        await rig.routing.login("alice", ["chat"])
        customer = await rig.customer(external="visitor-kb")
        await customer.wait_text("choose your language")
        await rig.bridge.customer_message(customer.chat, "1", client_id="c1", choice=True)
        await customer.wait_text("How can we help")
        # Words, not a key: the menu's intents pick "Ask a question".
        await rig.bridge.customer_message(customer.chat, "I have a question", client_id="c2")
        await customer.wait_text("Type your question")
        await rig.bridge.customer_message(customer.chat, "how can I pay my bill", client_id="c3")
        answer = await customer.wait_text("Pay in your account")
        assert "Your account: https://example.com/account" in answer["text"]
        helped = await customer.wait_text("Did this help?")
        assert [b["label"] for b in helped["data"]["buttons"]] == ["1. Yes", "2. No"]
        await rig.bridge.customer_message(customer.chat, "1", client_id="c4", choice=True)
        # Helped: anything else? Another question, one the knowledge base answers wrongly.
        more = await customer.wait_text("anything else")
        assert [b["label"] for b in more["data"]["buttons"]] == [
            "1. Another question",
            "2. Main menu",
            "3. No, that is all",
        ]
        await rig.bridge.customer_message(customer.chat, "1", client_id="c5", choice=True)
        await customer.wait_for(
            lambda f: f["type"] == "message" and "Type your question" in f["text"], after=25
        )
        await rig.bridge.customer_message(
            customer.chat, "internet not working at home", client_id="c6"
        )
        await customer.wait_text("Restart the router")
        await rig.bridge.customer_message(customer.chat, "2", client_id="c7", choice=True)
        await customer.wait_text("other words")
        await rig.bridge.customer_message(customer.chat, "qwerty zxcv", client_id="c8")
        await customer.wait_text("I found no answer")
        offer = await rig.desk_frame("offer", timeout=10)
        collected = offer["card"]["collected"]
        assert collected["kb_question"] == "qwerty zxcv"
        assert "(internet-down)" in collected["kb_tried"]
        contact = offer["contact_id"]
        kinds = await rig.events(contact)
        assert kinds.count("knowledge.answered") == 2
        assert kinds.count("knowledge.unanswered") == 1
