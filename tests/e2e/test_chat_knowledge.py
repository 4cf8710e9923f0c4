"""The knowledge base in the running controller, over the Telegram-style channel (its
loopback stand-in): words pick the menu's "ask a question", a Russian question is
answered with the article's link as a button, and "did this help?" comes as buttons."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chat_bridge.messengers import TELEGRAM_SECRET_HEADER
from hotline.store import Store
from hotline.store.chats import ChatStore
from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.test_chat_desk import (
    _messages,
    chat_available,
    chat_offline,
    close_chats,
    open_desk,
    open_widget,
    read,
    type_in_widget,
    wait_events,
    widget_says,
)
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
            # Helped: anything else? "That is all" in words; the bot-only chat is rated.
            more = await api.wait_for(lambda b: "чем-то ещё" in b.get("text", ""))
            assert [row[0]["text"] for row in more["reply_markup"]["inline_keyboard"]] == [
                "1. Другой вопрос",
                "2. Главное меню",
                "3. Нет, это всё",
            ]
            await send(telegram_update(6, chat, "нет, спасибо"))
            await api.wait_for(lambda b: "довольны этим чатом" in b.get("text", ""))
            await send(press(7, chat, "4"))
            await api.wait_for(lambda b: "Спасибо за ваш отзыв" in b.get("text", ""))

        session, _messages = await sessions_of(hotline, "telegram", str(chat))
        store = await Store.connect(hotline.database_url)
        try:
            async with asyncio.timeout(15):  # the flow's goodbye, then its end
                while True:
                    contact = await store.contact(session.contact_id or "")
                    assert contact is not None
                    if contact.ended_at is not None:
                        break
                    await asyncio.sleep(0.2)
            assert contact.status == "completed"
            events = await store.events(contact.id)
        finally:
            await store.close()
        answered = [e.data for e in events if e.type == "knowledge.answered"]
        assert [(a["article"], a["language"]) for a in answered] == [("balance", "ru")]
        feedback = [e.data for e in events if e.type == "knowledge.feedback"]
        assert feedback[0]["helpful"] is True
        rated = [e.data for e in events if e.type == "survey.answered"]
        assert [r["answers"] for r in rated] == [{"satisfaction": 4}], rated

    run(scenario)
    # The reports: a contained bot-only chat with its rating (others may add theirs).
    totals = report_rows(hotline, "interval=hour&channel=chat", "bot")
    everyone = next(row for row in totals if row["language"] == "all")
    assert everyone["contained"] >= 1 and 1 <= everyone["csat_bot"] <= 5, everyone


def report_rows(hotline: RunningHotline, query: str, table: str) -> list[dict[str, Any]]:
    """A table of today's report as the API token reads it."""
    request = urllib.request.Request(
        f"{hotline.web_url}/api/reports?{query}",
        headers={"Authorization": f"Bearer {hotline.secrets['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        rows: list[dict[str, Any]] = json.loads(answer.read())["tables"][table]["rows"]
    return rows


class BotApi:
    """A Bot API stand-in on a thread of its own (the desk runs on Playwright's sync
    API in this thread): records each method called with its JSON or form body."""

    def __init__(self, port: int) -> None:
        calls: list[tuple[str, dict[str, Any]]] = []
        self.calls = calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("Content-Type", "")
                body = form_fields(kind, raw) if kind.startswith("multipart/") else json.loads(raw)
                calls.append((self.path.rsplit("/", 1)[-1], body))
                answer = b'{"ok": true, "result": {}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BotApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def wait_for(
        self, method: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for called, body in list(self.calls):
                if called == method and predicate(body):
                    return body
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} as expected in {self.calls!r}"[:3000])
            time.sleep(0.05)


def form_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body's fields: text, or (file name, type, bytes)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            fields[str(name)] = (part.get_filename(), part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode() if isinstance(payload, bytes) else payload
    return fields


def post_update(hotline: RunningHotline, update: dict[str, Any]) -> int:
    """An update to the controller's Telegram webhook; the HTTP status."""
    request = urllib.request.Request(
        f"{hotline.web_url}/chat/telegram",
        data=json.dumps(update).encode(),
        headers={
            "Content-Type": "application/json",
            TELEGRAM_SECRET_HEADER: hotline.config["chat"]["telegram"]["webhook_secret"],
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


#: This test's Telegram chat; its update ids start at 201 (a chat already in its
#: flow does not start again, an update id is taken once: other tests use theirs).
STORY_CHAT = 4545
ACCOUNT = "https://example.com/account"
BILL = b"%PDF-1.4\n% your bill\n" + b"1" * 300_000


def test_telegram_customer_handed_to_an_agent_with_what_the_bot_tried(
    browser: Any, hotline: RunningHotline
) -> None:
    """The widget story over Telegram: answered as a native card, "no", handed to alice
    with the question and the article tried; she replies with the suggested article
    (an inline keyboard), a file (sendDocument with its bytes) and a link, which
    Telegram has no form for: its text."""
    desk_context = browser.new_context()
    desk_context.set_default_timeout(15_000)
    try:
        with BotApi(hotline.targets["telegram_api"]) as api:
            desk = open_desk(desk_context, hotline, "alice")
            chat_available(desk)

            def said(update_id: int, text: str) -> None:
                assert post_update(hotline, telegram_update(update_id, STORY_CHAT, text)) == 200

            def pressed(update_id: int, value: str) -> None:
                assert post_update(hotline, press(update_id, STORY_CHAT, value)) == 200

            said(201, "/start")
            api.wait_for("sendMessage", lambda b: "choose your language" in b["text"])
            pressed(202, "1")
            api.wait_for("sendMessage", lambda b: "How can we help" in b["text"])
            said(203, "I have a question")
            api.wait_for("sendMessage", lambda b: "Type your question" in b["text"])
            said(204, "how can I pay my bill")
            card = api.wait_for("sendMessage", lambda b: "Paying your bill" in b["text"])
            assert card["reply_markup"] == {
                "inline_keyboard": [[{"text": "Your account", "url": ACCOUNT}]]
            }
            api.wait_for("sendMessage", lambda b: "Did this help?" in b["text"])
            pressed(205, "2")
            api.wait_for("sendMessage", lambda b: "other words" in b["text"])
            said(206, "qwerty zxcv")

            offer = desk.locator(".offer[data-channel=chat]")
            offer.wait_for(timeout=20_000)
            contact_id = offer.get_attribute("data-contact-id") or ""
            offer.locator("button.accept").click()
            pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
            pane.wait_for()
            # What the bot was asked and tried, on the customer card.
            card_text = desk.locator("#card-body").inner_text()
            assert "Question to the bot\nqwerty zxcv" in card_text
            assert "Articles the bot tried\nPaying your bill (pay-bill)" in card_text
            assert f"From\ntelegram:{STORY_CHAT}" in card_text
            api.wait_for("sendMessage", lambda b: "Alice Agent has joined" in b["text"])

            # The suggested article, sent in one click: Telegram's inline keyboard.
            suggested = pane.locator(".assist-article[data-article=pay-bill]")
            suggested.wait_for()
            suggested.locator("button.assist-send-card").click()
            sent = api.wait_for(
                "sendMessage",
                lambda b: b["text"].startswith("Paying your bill") and b is not card,
            )
            assert sent["reply_markup"] == card["reply_markup"]
            assert str(sent["chat_id"]) == str(STORY_CHAT)
            # A file from the desk: uploaded to Telegram whole, with its name and type.
            pane.locator(".assist-file-input").set_input_files(
                {"name": "bill.pdf", "mimeType": "application/pdf", "buffer": BILL}
            )
            document = api.wait_for("sendDocument", lambda b: True)
            assert document["document"] == ("bill.pdf", "application/pdf", BILL)
            assert document["chat_id"] == str(STORY_CHAT)
            # A link: no native form on Telegram, so its text.
            desk.evaluate(
                """([id, url]) => new Promise((resolve) => {
                    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/desk/ws');
                    ws.onopen = () => ws.send(JSON.stringify({type: 'send', contact_id: id,
                      id: 'link-1', rich: {type: 'link', url: url, title: 'Tariffs'}}));
                    ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'sent') {
                      ws.close(); resolve(); } };
                })""",
                [contact_id, "https://example.com/tariffs"],
            )
            link = api.wait_for("sendMessage", lambda b: "Tariffs" in b["text"])
            assert link["text"] == "Tariffs: https://example.com/tariffs"
            assert "reply_markup" not in link
            # The customer's answer reaches alice.
            said(207, "thank you, that was it")
            pane.locator(".msg", has_text="thank you, that was it").wait_for()
            close_chats(desk)
            chat_offline(desk)
    finally:
        desk_context.close()

    events = wait_events(hotline, contact_id, "chat.closed")
    types = [e.type for e in events]
    assert types.count("knowledge.answered") == 1
    unanswered = [e.data for e in events if e.type == "knowledge.unanswered"]
    assert unanswered == [
        {
            "flow": "chat",
            "node": "ask_question",
            "question": "qwerty zxcv",
            "language": "en",
            "tried": ["pay-bill"],
        }
    ]
    # Everything the agent sent was stored, in order, before it was delivered.
    stored = read(hotline, lambda store: _messages(store, contact_id))
    agent_said = [text for text in stored if text in ("bill.pdf",) or "Tariffs" in text]
    assert agent_said == ["bill.pdf", "Tariffs: https://example.com/tariffs"]

    # Whoever keeps the knowledge base reads it in the reports: the question the bot
    # could not answer, a hand-over, and the table as CSV.
    reports = browser.new_context()
    try:
        page = reports.new_page()
        login(page, hotline.web_url, "sue", TEST_PASSWORD)
        page.goto(f"{hotline.web_url}/reports?interval=day")
        page.wait_for_selector("body[data-loaded]")
        unanswered = table_rows(page, "bot_unanswered")
        qwerty = [row for row in unanswered if row["question"] == "qwerty zxcv"]
        assert qwerty and int(qwerty[0]["count"]) >= 1 and qwerty[0]["languages"] == "en"
        totals = [row for row in table_rows(page, "bot") if row["language"] == "all"]
        assert int(totals[0]["handed_over"]) >= 1 and int(totals[0]["answers"]) >= 1
        with page.expect_download() as csv:
            page.click('h2:has-text("Questions the bot could not answer") a')
        assert csv.value.suggested_filename == "hotline-bot_unanswered.csv"
        text = Path(csv.value.path()).read_text()
        assert text.startswith("question,count,contacts,languages,example")
        assert "\nqwerty zxcv," in text
    finally:
        reports.close()


def table_rows(page: Any, table: str) -> list[dict[str, str]]:
    """A reports page table's rows, each as {column key: cell text}."""
    rows: list[dict[str, str]] = page.evaluate(
        """(name) => Array.from(
            document.querySelectorAll(`table[data-table="${name}"] tbody tr`),
            (tr) => Object.fromEntries(Array.from(tr.cells, (td) => [td.dataset.key,
                                                                   td.textContent])))""",
        table,
    )
    return rows


#: An article an admin adds with markup in its title and answer (kept as written,
#: shown as text everywhere), on a subject no other test asks about.
MARKUP_ARTICLE = """\
title:
  en: 'Moving <img src=x onerror="window.pwned=1">house'
  ru: Переезд
questions:
  en: [I am moving to a new flat, Transfer my service to a new address]
  ru: [Я переезжаю в новую квартиру]
answer:
  en: "Tell us <b>two weeks</b> ahead <script>window.pwned=2</script>"
  ru: Сообщите о переезде за две недели.
"""


def test_bad_input_refused_with_reasons_and_nothing_lost(
    browser: Any, hotline: RunningHotline
) -> None:
    """Articles with markup, an article with an error or an unknown language, a question
    too long for the bot, one too long for the channel, an unknown search language."""
    admin_context = browser.new_context()
    customer_context = browser.new_context()
    customer_context.set_default_timeout(15_000)
    admin = admin_context.new_page()
    login(admin, hotline.web_url, "admin", TEST_PASSWORD)
    articles = f"{hotline.web_url}/api/knowledge/articles"
    try:
        put = admin.request.put(f"{articles}/e2e-moving", data=MARKUP_ARTICLE)
        assert put.status == 201, put.text()
        # Errors: refused with the file's line and the field, the article unchanged.
        broken = MARKUP_ARTICLE.replace("answer:", "answr:")
        refused = admin.request.put(f"{articles}/e2e-moving", data=broken)
        assert refused.status == 422
        assert refused.json()["error"].splitlines() == [
            "e2e-moving.yaml:1:1: missing required field 'answer'",
            "e2e-moving.yaml:7:1: answr: unknown field",
        ]
        german = MARKUP_ARTICLE.replace("  ru: [Я", "  de: [Ich ziehe um]\n  ru: [Я")
        refused = admin.request.put(f"{articles}/e2e-moving", data=german)
        assert refused.status == 422 and "unknown language 'de'" in refused.json()["error"]
        versions = admin.request.get(f"{articles}/e2e-moving/versions").json()
        assert len(versions) == 1
        search = admin.request.get(
            f"{hotline.web_url}/api/knowledge/search", params={"q": "bill", "language": "de"}
        )
        assert search.status == 400
        assert search.json()["error"].startswith("unknown language 'de'")

        customer = open_widget(customer_context, hotline)
        widget_says(customer, "choose your language")
        customer.locator("#hotline-chat .choice", has_text="English").last.click()
        widget_says(customer, "How can we help")
        customer.locator("#hotline-chat .choice", has_text="Ask a question").last.click()
        widget_says(customer, "Type your question")
        # 10,000 characters pasted: the widget takes its limit (4,000), the bot asks
        # for a shorter question, and the message is kept.
        customer.locator("#hotline-chat .input").fill("a" * 10_000)
        assert len(customer.locator("#hotline-chat .input").input_value()) == 4000
        customer.locator("#hotline-chat .send").click()
        widget_says(customer, "That is a long message")
        # Markup in the question and in the article: shown as text, nothing run.
        type_in_widget(customer, "I am moving to a new flat <script>window.pwned=3</script>")
        card = customer.locator("#hotline-chat .rich-card", has_text="onerror").last
        card.wait_for()
        assert card.locator(".card-title").inner_text() == (
            'Moving <img src=x onerror="window.pwned=1">house'
        )
        assert card.locator(".card-text").inner_text() == (
            "Tell us <b>two weeks</b> ahead <script>window.pwned=2</script>"
        )
        widget_says(customer, "<script>window.pwned=3</script>")
        assert customer.locator("#hotline-chat img, #hotline-chat script").count() == 0
        assert customer.evaluate("window.pwned") is None
        widget_says(customer, "Did this help?")
        customer.locator("#hotline-chat .choice", has_text="Yes").last.click()
        session_id = customer.locator("#hotline-chat").get_attribute("data-session") or ""
    finally:
        deleted = admin.request.delete(f"{articles}/e2e-moving")
        admin_context.close()
        customer_context.close()
    assert deleted.status == 200, deleted.text()

    # A message too long for the channel: refused with the reason, nothing stored.
    status, reason = post_refused(hotline, telegram_update(301, 4646, "b" * 10_000))
    assert status == 413 and reason == "text over 4000 characters; not stored"
    assert run(lambda: sessions_of(hotline, "telegram", "4646")) == []

    session = read(hotline, lambda store: ChatStore(store).session(session_id))
    events = wait_events(hotline, session.contact_id, "knowledge.feedback")
    answered = [e.data["article"] for e in events if e.type == "knowledge.answered"]
    assert answered == ["e2e-moving"]
    invalid = [e.data for e in events if e.type == "flow.input" and e.data["result"] == "invalid"]
    assert len(invalid) == 1  # the long one, asked again
    stored = read(hotline, lambda store: _messages(store, session.contact_id))
    assert "a" * 4000 in stored  # the long question kept as written
    assert "I am moving to a new flat <script>window.pwned=3</script>" in stored


def post_refused(hotline: RunningHotline, update: dict[str, Any]) -> tuple[int, str]:
    """An update the webhook should refuse: its status and error text."""
    try:
        post_update(hotline, update)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())["error"]
    raise AssertionError("the update was taken")


def test_widget_unsure_offers_the_closest_articles(browser: Any, hotline: RunningHotline) -> None:
    """Words that fit two menu options asked back; a word too vague to answer by itself:
    the closest articles as buttons, one chosen is answered (logged as chosen); then
    "another question" asks again."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        customer = open_widget(context, hotline)
        widget_says(customer, "choose your language")
        customer.locator("#hotline-chat .choice", has_text="English").last.click()
        widget_says(customer, "How can we help")
        # Words that fit two options as well: asked back with both as buttons.
        type_in_widget(customer, "operator question")
        which = widget_says(customer, "Which of these did you mean?")
        assert which.locator(".choice").all_inner_texts() == [
            "2. Talk to an agent",
            "4. I have a question",
        ]
        which.locator(".choice", has_text="I have a question").click()
        widget_says(customer, "Type your question")
        type_in_widget(customer, "money")
        unsure = widget_says(customer, "Is it one of these?")
        labels = unsure.locator(".choice").all_inner_texts()
        assert labels == ["1. Checking your balance", "0. None of these"], labels
        unsure.locator(".choice", has_text="Checking your balance").click()
        card = customer.locator("#hotline-chat .rich-card", has_text="Checking your balance").last
        card.wait_for()
        assert "first page of your account" in card.locator(".card-text").inner_text()
        widget_says(customer, "Did this help?")
        customer.locator("#hotline-chat .choice", has_text="Yes").last.click()
        widget_says(customer, "anything else")
        customer.locator("#hotline-chat .choice", has_text="Another question").last.click()
        asked = customer.locator("#hotline-chat .msg", has_text="Type your question")
        asked.nth(1).wait_for()
        session_id = customer.locator("#hotline-chat").get_attribute("data-session") or ""
    finally:
        context.close()
    session = read(hotline, lambda store: ChatStore(store).session(session_id))
    events = wait_events(hotline, session.contact_id, "knowledge.feedback")
    searched = [e.data for e in events if e.type == "knowledge.searched"]
    assert searched[0]["question"] == "money" and searched[0]["confidence"] < 0.5
    answered = [e.data for e in events if e.type == "knowledge.answered"]
    assert [(a["article"], a["chosen"]) for a in answered] == [("balance", True)]
