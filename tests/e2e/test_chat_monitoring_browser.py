"""Chat monitoring in a real headless Chromium with two desks open (issue 18): a customer
in the widget chats with judy at her desk; sue whispers a note (REST API), shown on
judy's desk as a private note and never in the widget; tess (a team lead) takes the
chat over: it leaves judy's desk with a notice and opens on tess's desk with its whole
thread and the note, and the customer goes on talking with tess."""

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

        sue = web_user(hotline, "sue")
        answer = sue.post(f"{hotline.web_url}/api/chats/{contact}/whisper", json={"text": NOTE})
        assert answer.status_code == 200, answer.text
        note = judy_pane.locator(".msg.whisper")
        note.wait_for()
        assert note.inner_text() == f"Private note from sue: {NOTE}"

        # tess, a team lead, opens her desk (she lands on the wallboard) and takes it.
        tess = tess_context.new_page()
        login(tess, hotline.web_url, "tess", TEST_PASSWORD)
        tess.goto(f"{hotline.web_url}/desk")
        tess.wait_for_selector("#connection[data-connected=true]")
        desks.append(tess)
        chat_available(tess)
        lead = web_user(hotline, "tess")
        answer = lead.post(f"{hotline.web_url}/api/chats/{contact}/take_over")
        assert answer.status_code == 200, answer.text
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
        tess_pane.locator("button.close").click()
        tess.wait_for_selector(f".tab[data-contact-id='{contact}']", state="detached")
    finally:
        for desk in desks:
            chat_offline(desk)
        for context in contexts:
            context.close()
