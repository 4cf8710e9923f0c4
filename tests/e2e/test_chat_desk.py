"""Chat end to end in a real headless Chromium: a customer on the demo page's widget,
an agent in the desk, the real controller (routing engine, store) between them.

alice (config/hotline.yaml: chat capacity 3) serves the demo chat flow's support
queue; judy (tests/e2e/conftest.py) serves e2e_chat with a SIPp phone, taking chats
while she is on a call.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hotline.store import LoggedEvent, Store
from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.sipp import Gate, HangUp, SippCall
from tests.e2e.sipp_uas import TransferTarget

pytestmark = [pytest.mark.e2e]

#: A 1x1 red PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154"
    "789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
HOSTILE = 'Hi <script>window.pwned=1</script><img src=x onerror="window.pwned=2"> &amp;'


def read(hotline: RunningHotline, query: Any) -> Any:
    async def run() -> Any:
        store = await Store.connect(hotline.database_url)
        try:
            return await query(store)
        finally:
            await store.close()

    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def events_of(hotline: RunningHotline, contact_id: str) -> list[LoggedEvent]:
    return read(hotline, lambda store: store.events(contact_id))


def wait_events(hotline: RunningHotline, contact_id: str, kind: str, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    while True:
        events = events_of(hotline, contact_id)
        if any(e.type == kind for e in events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} for {contact_id}: {[e.type for e in events]}")
        time.sleep(0.2)


@pytest.fixture
def agent_page(browser: Any, hotline: RunningHotline) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


def open_desk(context: Any, hotline: RunningHotline, agent: str) -> Any:
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    login(page, hotline.web_url, agent, TEST_PASSWORD)
    assert page.url.endswith("/desk")
    page.wait_for_selector("#connection[data-connected=true]")
    return page


def chat_available(desk: Any) -> None:
    channel = desk.locator(".channel[data-channel=chat]")
    channel.wait_for()
    if channel.get_attribute("data-state") == "offline":
        channel.locator("button.login").click()
    elif channel.get_attribute("data-state") == "paused":
        channel.locator("button.unpause").click()
    desk.wait_for_selector(".channel[data-channel=chat][data-state=available]")


def chat_offline(desk: Any) -> None:
    """Log the agent's chat out. Straight from wrap-up too: a "Ready" click can come after
    the wrap-up has ended on its own, when there is no Ready button any more."""
    channel = desk.locator(".channel[data-channel=chat]")
    if channel.get_attribute("data-state") != "offline":
        channel.locator("button.logout").click()
        try:
            desk.wait_for_selector(".channel[data-channel=chat][data-state=offline]")
        except Exception as error:
            state = channel.get_attribute("data-state")
            raise AssertionError(f"chat {state}: {desk.locator('#toast').inner_text()}") from error


def close_chats(desk: Any) -> None:
    """Close every chat on the desk, one by one by contact id, each gone before the next.

    Not by position: a closed chat's tab is removed when the server confirms, so a
    locator for "the second tab" taken before the first close points at nothing once
    that confirmation wins the race with the next click."""
    contact_ids = [tab.get_attribute("data-contact-id") for tab in desk.locator(".tab").all()]
    for contact_id in contact_ids:
        desk.locator(f".tab[data-contact-id='{contact_id}']").click()
        desk.locator(f".pane[data-contact-id='{contact_id}'] button.close").click()
        desk.wait_for_selector(f".tab[data-contact-id='{contact_id}']", state="detached")


def open_widget(context: Any, hotline: RunningHotline, path: str = "/chat/demo") -> Any:
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    page.goto(f"{hotline.web_url}{path}")
    page.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
    return page


def widgets_settled(pages: list[Any], counts: dict[str, int]) -> dict[str | None, list[Any]]:
    """The widgets by state, once as many are in each state as `counts` says.

    Each widget hears of its state on its own socket, a moment after the desk hears of
    the same change: right after the desk opens a chat, its customer may still show
    "queued"."""
    deadline = time.monotonic() + 15
    while True:
        by_state: dict[str | None, list[Any]] = {}
        for page in pages:
            state = page.locator("#hotline-chat").get_attribute("data-state")
            by_state.setdefault(state, []).append(page)
        found = {state: len(widgets) for state, widgets in by_state.items()}
        if found == counts:
            return by_state
        if time.monotonic() > deadline:
            raise AssertionError(f"widgets by state: {found}, expected {counts}")
        time.sleep(0.1)


def widget_says(page: Any, text: str) -> Any:
    found = page.locator("#hotline-chat .msg", has_text=text).last
    found.wait_for()
    return found


def type_in_widget(page: Any, text: str) -> None:
    page.locator("#hotline-chat .input").fill(text)
    page.locator("#hotline-chat .send").click()


def test_customer_chats_with_an_agent_in_the_desk(
    browser: Any, hotline: RunningHotline, agent_page: Any
) -> None:
    desk = open_desk(agent_page, hotline, "alice")
    chat_available(desk)
    # Pause chat alone, with a reason; voice is a separate channel.
    desk.locator("#pause-reason").select_option("lunch")
    desk.locator(".channel[data-channel=chat] button.pause").click()
    paused = desk.locator(".channel[data-channel=chat][data-state=paused]")
    paused.wait_for()
    assert "(lunch)" in paused.inner_text()
    # (alice has no phone registered here: her voice stays paused "unreachable")
    assert "(lunch)" not in desk.locator(".channel[data-channel=voice]").inner_text()
    chat_available(desk)
    customer_context = browser.new_context()
    customer_context.set_default_timeout(15_000)
    try:
        customer = open_widget(customer_context, hotline)
        widget_says(customer, "choose your language")
        customer.locator("#hotline-chat .choice", has_text="English").last.click()
        widget_says(customer, "How can we help")
        customer.locator("#hotline-chat .choice", has_text="Chat with an agent").last.click()
        customer.wait_for_selector("#hotline-chat[data-state=queued]", state="attached")
        type_in_widget(customer, HOSTILE)

        offer = desk.locator(".offer[data-channel=chat]")
        offer.wait_for()
        contact_id = offer.get_attribute("data-contact-id")
        offer.locator("button.accept").click()
        pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
        shown = pane.locator(".msg.from-customer .text", has_text="Hi <script>")
        shown.wait_for()
        # The customer's HTML arrives as text: no element was made from it, nothing ran.
        assert shown.inner_text() == HOSTILE
        assert pane.locator(".log script, .log img").count() == 0
        assert desk.evaluate("window.pwned") is None
        card = desk.locator("#card-body")
        assert "language" in card.inner_text().lower()
        widget_says(customer, "Alice Agent has joined")

        # A picture from the customer: uploaded, sent, shown in the desk.
        customer.locator("#hotline-chat .file").set_input_files(
            {"name": "router.png", "mimeType": "image/png", "buffer": PNG}
        )
        picture = pane.locator(".msg.from-customer img[alt='router.png']")
        picture.wait_for()
        desk.wait_for_function(
            "() => { const i = document.querySelector(\".msg img[alt='router.png']\");"
            " return i && i.complete && i.naturalWidth === 1; }"
        )
        widget_says(customer, "router.png")

        pane.locator("textarea.input").fill("Hello, this is Alice. How can I help?")
        pane.locator("button.send").click()
        widget_says(customer, "this is Alice")

        # The customer's page goes away; the agent writes meanwhile; nothing is lost.
        customer.close()
        pane.locator("textarea.input").fill("Are you still there?")
        pane.locator("button.send").click()
        pane.locator(".msg.from-agent", has_text="still there").wait_for()
        customer = customer_context.new_page()
        customer.goto(f"{hotline.web_url}/chat/demo")
        widget_says(customer, "Are you still there?")
        assert customer.locator("#hotline-chat .msg", has_text="Hi <script>").count() == 1
        assert customer.locator("#hotline-chat .msg", has_text="this is Alice").count() == 1

        # The desk reloads: its tab comes back with the whole thread.
        desk.reload()
        desk.wait_for_selector("#connection[data-connected=true]")
        pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
        pane.locator(".msg.from-agent", has_text="still there").wait_for()
        type_in_widget(customer, "Yes, my internet is down")
        pane.locator(".msg.from-customer", has_text="internet is down").wait_for()
        assert pane.locator(".msg.from-customer", has_text="Hi <script>").count() == 1

        desk.locator(f".tab[data-contact-id='{contact_id}']").click()
        pane.locator("select.wrap-up").select_option("resolved")
        pane.locator("button.close").click()
        desk.wait_for_selector(f".pane[data-contact-id='{contact_id}']", state="detached")

        widget_says(customer, "How satisfied were you")
        customer.locator("#hotline-chat .choice", has_text=re.compile(r"^5$")).last.click()
        widget_says(customer, "Thank you for chatting with us")
        customer.wait_for_selector("#hotline-chat[data-state=closed]", state="attached")
    finally:
        customer_context.close()
    chat_offline(desk)

    events = wait_events(hotline, contact_id or "", "survey.answered")
    types = [e.type for e in events]
    assert types[0] == "chat.started" and "contact.answered" in types
    (closed,) = [e.data for e in events if e.type == "chat.closed"]
    assert closed["by"] == "agent" and closed["wrap_up"] == "resolved"
    (survey,) = [e.data for e in events if e.type == "survey.answered"]
    assert survey["answers"] == {"satisfaction": 5}
    stored = read(hotline, lambda store: _messages(store, contact_id))
    assert HOSTILE in stored  # kept exactly as typed, and shown as text
    assert stored.count(HOSTILE) == 1


async def _messages(store: Store, contact_id: str | None) -> list[str]:
    from hotline.store.chats import ChatStore

    return [m.text for m in await ChatStore(store).contact_messages(contact_id or "")]


def test_agent_on_a_call_still_takes_chats_up_to_capacity(
    browser: Any, hotline: RunningHotline, agent_page: Any
) -> None:
    """judy (voice 1, chat 2, chat_while_voice) talks on her SIPp phone and takes two
    chats; the third waits until she closes one."""
    desk = open_desk(agent_page, hotline, "judy")
    chat_available(desk)
    # judy talks until the caller hangs up: once the test has seen all it needs.
    phone = TransferTarget(
        hotline.workdir / "phones",
        "answer_until_hangup",
        hotline.targets["judy"],
        ring=0.3,
        talk=90,
    ).start()
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "331", "5556331", [Gate(90), HangUp()]
    ).start()
    contexts = []
    try:
        # Screen pop: the caller's card on the desk as the call is offered.
        pop = desk.locator("#card-body .pop")
        pop.wait_for(timeout=20_000)
        assert "Incoming call (e2e_chat)" in pop.inner_text()
        assert "5556331" in desk.locator("#card-body").inner_text()
        desk.wait_for_selector(".channel[data-channel=voice][data-state=busy]", timeout=20_000)
        pages = []
        for _ in range(3):
            context = browser.new_context()
            context.set_default_timeout(15_000)
            contexts.append(context)
            pages.append(open_widget(context, hotline, "/chat/demo/e2e"))
        accepted = []
        for _ in range(2):
            offer = desk.locator(".offer[data-channel=chat]").first
            offer.wait_for()
            accepted.append(offer.get_attribute("data-contact-id"))
            offer.locator("button.accept").click()
            desk.locator(f".pane[data-contact-id='{accepted[-1]}']").wait_for(state="attached")
        # Two chats and a call: the third customer waits, first in the queue.
        waiting = widgets_settled(pages, {"agent": 2, "queued": 1})["queued"]
        # Its place in the queue, live in the widget.
        status = waiting[0].locator("#hotline-chat .status")
        status.filter(has_text="You are number 1 in the queue").wait_for()
        time.sleep(1.5)
        assert desk.locator(".offer[data-channel=chat]").count() == 0
        assert desk.locator(".channel[data-channel=voice][data-state=busy]").count() == 1
        pane = desk.locator(f".pane[data-contact-id='{accepted[0]}']")
        desk.locator(f".tab[data-contact-id='{accepted[0]}']").click()
        pane.locator("button.close").click()
        offer = desk.locator(".offer[data-channel=chat]").first
        offer.wait_for()
        third = offer.get_attribute("data-contact-id")
        offer.locator("button.accept").click()
        waiting[0].wait_for_selector("#hotline-chat[data-state=agent]", state="attached")
        # Its pane on the desk too (the widget may hear first on a loaded machine), so
        # that close_chats below closes it: else judy's chat cannot log out.
        desk.locator(f".pane[data-contact-id='{third}']").wait_for(state="attached")
        assert desk.locator(".channel[data-channel=voice][data-state=busy]").count() == 1
        call.open_gate()
        assert call.wait(60).ok and phone.wait_done().ok
    finally:
        for context in contexts:
            context.close()
        phone.stop()
        close_chats(desk)
        chat_offline(desk)
