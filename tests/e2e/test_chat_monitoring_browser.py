"""Chat monitoring in a real headless Chromium with two desks open (issue 18): a customer
in the widget chats with judy at her desk; sue, on the wallboard, reads the chat live
(the thread so far, then each new message), whispers a note from there (shown on judy's
desk as a private note and never in the widget); tess (a team lead) clicks Take over on
her wallboard: the chat leaves judy's desk with a notice and opens on tess's desk with
its whole thread and the note, sue's reading ends (judy's part of the chat did) and the
board shows the chat on tess, and the customer goes on talking with tess."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.test_chat_desk import (
    chat_available,
    chat_offline,
    open_desk,
    open_widget,
    type_in_widget,
    widget_says,
)

pytestmark = pytest.mark.e2e

NOTE = "Ask for the order number first"


def web_user(hotline: RunningHotline, user: str) -> requests.Session:
    session = requests.Session()
    session.headers["Origin"] = hotline.web_url
    answer = session.post(
        f"{hotline.web_url}/login", json={"user": user, "password": TEST_PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return session


def test_whisper_and_take_over_across_two_desks(browser: Any, hotline: RunningHotline) -> None:
    contexts = [browser.new_context() for _ in range(3)]
    for context in contexts:
        context.set_default_timeout(15_000)
    judy_context, tess_context, customer_context = contexts
    desks = []
    try:
        judy = open_desk(judy_context, hotline, "judy")
        desks.append(judy)
        chat_available(judy)
        customer = open_widget(customer_context, hotline, "/chat/demo/e2e")
        offer = judy.locator(".offer[data-channel=chat]")
        offer.wait_for()
        contact = offer.get_attribute("data-contact-id")
        offer.locator("button.accept").click()
        widget_says(customer, "has joined")
        type_in_widget(customer, "Where is my parcel?")
        judy_pane = judy.locator(f".pane[data-contact-id='{contact}']")
        judy_pane.locator(".msg.from-customer", has_text="Where is my parcel?").wait_for()

        # sue reads the chat on the wallboard, live, and whispers from there.
        sue_context = browser.new_context()
        sue_context.set_default_timeout(15_000)
        contexts.append(sue_context)
        board = sue_context.new_page()
        board.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
        login(board, hotline.web_url, "sue", TEST_PASSWORD)
        board.goto(f"{hotline.web_url}/wallboard")
        row = f"#contacts tr[data-contact-id='{contact}'][data-state=talking]"
        board.wait_for_selector(row)
        assert board.text_content(f"{row} td.queue") == "e2e_chat"
        assert board.text_content(f"{row} td.agent") == "Judy"
        board.click(f"{row} button.read")
        log = board.locator("#reading-log")
        log.locator("li.from-customer", has_text="Where is my parcel?").wait_for()
        # judy is told (monitoring.tell_agent: desk in the test config).
        judy.wait_for_selector(f".pane[data-contact-id='{contact}'][data-monitored=read]")
        assert "sue is reading this chat" in judy.locator("#toast").inner_text()
        type_in_widget(customer, "It was due on Monday")
        log.locator("li.from-customer", has_text="It was due on Monday").wait_for()
        judy_pane.locator(".input").fill("Let me check that for you")
        judy_pane.locator(".send").click()
        log.locator("li.from-agent", has_text="Let me check that for you").wait_for()
        # Whisper: the note box under the chat being read, focused by the row's button.
        board.click(f"{row} button.whisper")
        assert board.evaluate("document.activeElement.name") == "note"
        board.fill("#reading-note input[name=note]", NOTE)
        board.click("#reading-note button[type=submit]")
        board.wait_for_selector("#monitor-status:text-is('Note sent to the agent')")
        assert board.input_value("#reading-note input[name=note]") == ""
        note = judy_pane.locator(".msg.whisper")
        note.wait_for()
        assert note.inner_text() == f"Private note from sue: {NOTE}"
        log.locator("li.whisper", has_text=NOTE).wait_for()
        # An agent cannot read it: the monitor socket refuses judy.
        judy_session = web_user(hotline, "judy")
        answer = judy_session.get(f"{hotline.web_url}/api/chats/{contact}/monitor")
        assert answer.status_code == 403, answer.text

        # tess, a team lead, opens her desk, then takes the chat over on her wallboard.
        tess = tess_context.new_page()
        login(tess, hotline.web_url, "tess", TEST_PASSWORD)
        tess.goto(f"{hotline.web_url}/desk")
        tess.wait_for_selector("#connection[data-connected=true]")
        desks.append(tess)
        chat_available(tess)
        tess_board = tess_context.new_page()
        tess_board.goto(f"{hotline.web_url}/wallboard")
        tess_board.click(f"{row} button.take-over")
        tess_board.wait_for_selector("#monitor-status:has-text('The chat is on your desk now')")
        tess_pane = tess.locator(f".pane[data-contact-id='{contact}']")
        tess_pane.locator(".msg.from-customer", has_text="Where is my parcel?").wait_for()
        assert tess_pane.locator(".msg.whisper").inner_text() == f"Private note from sue: {NOTE}"
        judy.wait_for_selector(f".tab[data-contact-id='{contact}']", state="detached")
        assert "tess took over this chat" in judy.locator("#toast").inner_text()
        widget_says(customer, "Tess Lead has joined")

        tess_pane.locator(".input").fill("Tess here: your parcel leaves today")
        tess_pane.locator(".send").click()
        widget_says(customer, "your parcel leaves today")
        assert NOTE not in customer.locator("#hotline-chat").inner_text()
        # sue's reading ended with judy's part of the chat; the board shows it on tess.
        log.locator("li.ended", has_text="reading ended (taken_over)").wait_for()
        board.wait_for_selector(f"{row} td.agent:text-is('Tess Lead')")
        board.click("#reading-close")
        board.wait_for_selector("#reading", state="hidden")
        tess_pane.locator("button.close").click()
        tess.wait_for_selector(f".tab[data-contact-id='{contact}']", state="detached")
    finally:
        for desk in desks:
            chat_offline(desk)
        for context in contexts:
            context.close()
