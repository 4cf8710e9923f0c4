"""The knowledge base in the running controller, over the Telegram-style channel (its
loopback stand-in): words pick the menu's "ask a question", a Russian question is
answered with the article's link as a button, and "did this help?" comes as buttons."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from chat_bridge.messengers import TELEGRAM_SECRET_HEADER
from hotline.store import Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.test_chat_messengers import StandIn, run, sessions_of, telegram_update

pytestmark = [pytest.mark.e2e]


def press(update_id: int, chat: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb-{update_id}",
            "data": data,
            "from": {"id": chat},
            "message": {"message_id": update_id, "chat": {"id": chat}},
        },
    }


def test_a_question_answered_over_telegram(hotline: RunningHotline) -> None:
    secret = hotline.config["chat"]["telegram"]["webhook_secret"]
    url = f"{hotline.web_url}/chat/telegram"
    chat = 4242

    async def scenario() -> None:
        async with StandIn(hotline.targets["telegram_api"]) as api, aiohttp.ClientSession() as http:
            headers = {TELEGRAM_SECRET_HEADER: secret}

            async def send(body: dict[str, Any]) -> None:
                async with http.post(url, json=body, headers=headers) as reply:
                    assert reply.status == 200

            await send(telegram_update(1, chat, "/start"))
            await api.wait_for(lambda b: "choose your language" in b.get("text", ""))
            await send(press(2, chat, "2"))
            await api.wait_for(lambda b: "Чем мы можем помочь" in b.get("text", ""))
            await send(telegram_update(3, chat, "у меня вопрос"))
            await api.wait_for(lambda b: "Напишите ваш вопрос" in b.get("text", ""))
            await send(telegram_update(4, chat, "Как узнать баланс счёта?"))
            answer = await api.wait_for(lambda b: "Баланс показан" in b.get("text", ""))
            # The article's web link as a button of the message (Telegram's inline keyboard).
            assert answer["reply_markup"]["inline_keyboard"] == [
                [{"text": "Личный кабинет", "url": "https://example.com/account"}]
            ]
            helped = await api.wait_for(lambda b: "Это помогло?" in b.get("text", ""))
            keyboard = helped["reply_markup"]["inline_keyboard"]
            assert [row[0]["callback_data"] for row in keyboard] == ["1", "2"]
            await send(press(5, chat, "1"))

            def menus() -> list[dict[str, Any]]:
                return [b for b in api.bodies() if "Чем мы можем" in b.get("text", "")]

            await api.wait_for(lambda _body: len(menus()) == 2)  # helped: the menu again

        session, _messages = await sessions_of(hotline, "telegram", str(chat))
        store = await Store.connect(hotline.database_url)
        try:
            contact = (await store.contact(session.contact_id)) if session.contact_id else None
            assert contact is not None
            events = await store.events(contact.id)
        finally:
            await store.close()
        answered = [e.data for e in events if e.type == "knowledge.answered"]
        assert [(a["article"], a["language"]) for a in answered] == [("balance", "ru")]
        feedback = [e.data for e in events if e.type == "knowledge.feedback"]
        assert feedback[0]["helpful"] is True

    run(scenario)
