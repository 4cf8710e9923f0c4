"""The supervisors' contact page in a real headless Chromium, served by the running
controller: find a contact by a word said in its call, play its recording with the
transcript following the player, read its timeline, chat and notes, score it with the
demo evaluation form, and see the score and the audit (transcript.accessed,
recording.accessed) in its log.

The reviewed contact is written into the controller's store here (a call answered by
carol, its recording file, transcript, wrap-up and note) so that the page has a
recording and a transcript whatever the speech engine of the machine.
"""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hotline.store import Store
from hotline.store.chats import ChatMessage, ChatStore
from hotline.store.transcripts import Transcripts
from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

WORDS = ["hello", "my", "parcel", "never", "arrived"]
#: Every chart of the report page drawn (arg: how many there are).
CHARTS_LOADED = """(count) => {
  const images = [...document.querySelectorAll('#charts img')];
  return images.length === count && images.every((i) => i.complete && i.naturalWidth > 0);
}"""


def tone(path: Path, seconds: float = 3.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = (
            int(8000 * 0.3 * math.sin(2 * math.pi * 440 * i / 8000))
            for i in range(int(8000 * seconds))
        )
        out.writeframes(b"".join(struct.pack("<h", f) for f in frames))


def in_store(hotline: RunningHotline, work: Any) -> Any:
    async def run() -> Any:
        store = await Store.connect(hotline.database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def seed(hotline: RunningHotline, folder: Path) -> str:
    recording = folder / "review-1.wav"
    tone(recording)

    async def work(store: Store) -> str:
        call = await store.open_contact("voice", "inbound", "+15557300", "304")
        await store.append(call, "contact.join", {}, queue="e2e_fifo")
        await store.append(call, "contact.answered", {}, queue="e2e_fifo", agent="carol")
        await store.append(
            call,
            "recording.saved",
            {
                "name": "review-1",
                "duration": 3.0,
                "outcome": "recorded",
                "format": "wav",
                "file": str(recording),
                "asterisk_file": "review-1",
            },
            queue="e2e_fifo",
            agent="carol",
        )
        await store.append(
            call, "contact.wrapup", {"code": "resolved", "by": "carol"}, agent="carol"
        )
        await store.append(call, "contact.note", {"text": "resent the parcel", "by": "carol"})
        await Transcripts(store).save(
            contact_id=call,
            recording="review-1",
            language="en",
            engine="test",
            text=" ".join(WORDS),
            confidence=0.9,
            words=[
                {"word": w, "start": 0.5 * i, "end": 0.5 * i + 0.5, "conf": 0.9}
                for i, w in enumerate(WORDS)
            ],
            flags=[],
            sentiment=None,
            queue="e2e_fifo",
        )
        await store.close_contact(call, "completed")
        return call

    return in_store(hotline, work)


def test_review_play_and_evaluate_a_contact(
    hotline: RunningHotline, page: Any, tmp_path: Path
) -> None:
    contact = seed(hotline, tmp_path)
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/contacts")
    page.fill("#search [name=q]", "PARCEL never")
    page.click("#search button[type=submit]")
    row = f'#results tr[data-id="{contact}"]'
    page.wait_for_selector(row)
    assert page.locator("#results tbody tr").count() >= 1
    assert "carol" in page.text_content(row)
    page.click(row)
    page.wait_for_selector("#contact:not([hidden])")
    assert "resolved" in page.text_content("#wrap-up")
    assert "resent the parcel" in page.text_content("#notes")
    timeline = page.text_content("#timeline")
    assert "contact.answered" in timeline and "transcript.accessed" not in timeline
    # The transcript follows the player: a click on "never" plays from 1.5 s on.
    page.click('.transcript span:text-is("never")')
    page.wait_for_function(
        "() => document.querySelector('#recordings audio').currentTime >= 1.5", timeout=10_000
    )
    page.wait_for_selector(".transcript span.now")
    # Score carol's call with the demo form: everything yes / top of the scale, but
    # "verified" is a fail-all question answered no: 0 and failed.
    for question in ("greeting", "resolved", "wrap_up", "hold_explained"):
        page.check(f'[data-question="{question}"] input[value="yes"]')
    page.check('[data-question="verified"] input[value="no"]')
    page.check('[data-question="understood"] input[value="5"]')
    page.check('[data-question="empathy"] input[value="na"]')
    page.fill("#evaluate textarea[name=comment]", "identity not checked")
    page.click("#evaluate button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#evaluate-result').textContent.includes('Saved: 0.0 %')"
    )
    page.wait_for_selector("#evaluations tbody tr")
    assert "fail (verified)" in page.text_content("#evaluations tbody")
    assert page.text_content("#evaluate-error") == ""

    events = in_store(hotline, lambda store: store.events(contact))
    kinds = [e.type for e in events]
    assert "transcript.accessed" in kinds
    heard = [e.data for e in events if e.type == "recording.accessed"]
    assert heard and heard[0] == {"by": "sue", "role": "supervisor", "recording": "review-1"}
    [scored] = [e.data for e in events if e.type == "evaluation.submitted"]
    assert (scored["by"], scored["agent"], scored["score"], scored["passed"]) == (
        "sue",
        "carol",
        0.0,
        False,
    )


ALL_YES = {
    "greeting": "yes",
    "verified": "yes",
    "understood": 5,
    "empathy": "na",
    "hold_explained": "na",
    "resolved": "yes",
    "wrap_up": "yes",
}


def seed_chat(hotline: RunningHotline) -> str:
    """A chat judy answered in queue e2e_chat: two messages each way."""

    async def work(store: Store) -> str:
        chat = await store.open_contact("chat", "inbound", "web", "e2e")
        await store.append(chat, "contact.join", {}, queue="e2e_chat")
        await store.append(chat, "contact.answered", {}, queue="e2e_chat", agent="judy")
        chats = ChatStore(store)
        session = await chats.create_session("web")
        thread = [
            ("customer", "My refund for order 4711 has not come"),
            ("agent", "Sorry about that, I am checking order 4711"),
            ("customer", "Thank you"),
            ("agent", "The refund left today"),
        ]
        for seq, (who, text) in enumerate(thread, 1):
            await chats.add_message(
                ChatMessage(
                    session.id,
                    seq,
                    who,
                    "text",
                    text,
                    agent="judy" if who == "agent" else None,
                    contact_id=chat,
                )
            )
        await chats.flush()
        await store.append(chat, "contact.wrapup", {"code": "resolved", "by": "judy"}, agent="judy")
        await store.close_contact(chat, "completed")
        return chat

    return in_store(hotline, work)


def test_a_chat_found_by_a_written_word_and_calibrated(
    hotline: RunningHotline, page: Any, tmp_path: Path
) -> None:
    """A chat contact found by channel, agent and a word written in it; its thread on the
    page; the API (an admin) scored it 100 %, sue scores it lower: both, and the spread."""
    seed(hotline, tmp_path)  # a call of carol's: left out by the channel and agent asked
    contact = seed_chat(hotline)
    status, _ = hotline_post(
        hotline,
        f"/api/contacts/{contact}/evaluations",
        {"form": "call_quality", "answers": ALL_YES},
    )
    assert status == 201
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/contacts")
    page.select_option("#search [name=channel]", "chat")
    page.fill("#search [name=agent]", "judy")
    page.fill("#search [name=q]", "refund")
    page.click("#search button[type=submit]")
    row = f'#results tr[data-id="{contact}"]'
    # The rows of this search: the page's first, unfiltered search may answer later (the
    # page drops that answer), and its rows hold this contact too.
    page.wait_for_selector('#results[data-query*="q=refund"]', state="attached")
    ids = page.eval_on_selector_all("#results tbody tr", "rows => rows.map(r => r.dataset.id)")
    assert contact in ids and all(
        "judy" in page.text_content(f'#results tr[data-id="{i}"]') for i in ids
    )
    page.click(row)
    page.wait_for_selector("#chat-block:not([hidden])")
    thread = page.locator("#chat li").all_inner_texts()
    assert len(thread) == 4, thread
    assert "My refund for order 4711 has not come" in thread[0]
    assert "judy" in thread[1] and "The refund left today" in thread[3]
    assert page.locator("#recordings audio").count() == 0
    assert "resolved" in page.text_content("#wrap-up")

    # sue's own score: "understood" 3 of 5, the rest as the API's: two evaluators, a spread.
    for question in ("greeting", "verified", "resolved", "wrap_up"):
        page.check(f'[data-question="{question}"] input[value="yes"]')
    for question in ("empathy", "hold_explained"):
        page.check(f'[data-question="{question}"] input[value="na"]')
    page.check('[data-question="understood"] input[value="3"]')
    page.click("#evaluate button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#evaluate-result').textContent.startsWith('Saved: ')"
    )
    page.wait_for_selector("#calibration:has-text('2 evaluators')")
    calibration = page.text_content("#calibration")
    assert "Calibration (call_quality): 2 evaluators" in calibration, calibration
    assert "to 100.0 %" in calibration and "most apart: understood" in calibration, calibration
    evaluators = page.locator("#evaluations tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(evaluators) == ["api", "sue"], evaluators  # the API token, then sue


def test_a_bad_answer_is_shown_and_nothing_stored(
    hotline: RunningHotline, page: Any, tmp_path: Path
) -> None:
    contact = seed(hotline, tmp_path)
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/contacts?id={contact}")
    page.wait_for_selector("#contact:not([hidden])")
    # A form the page would not send (a value outside the scale), posted by the page's own code.
    status = page.evaluate(
        """async (id) => (await fetch(`/api/contacts/${id}/evaluations`, {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({form: 'call_quality', answers: {greeting: 'yes'}})})).status""",
        contact,
    )
    assert status == 400
    events = in_store(hotline, lambda store: store.events(contact))
    assert "evaluation.submitted" not in [e.type for e in events]


def test_quality_and_staffing_report_pages(
    hotline: RunningHotline, page: Any, tmp_path: Path
) -> None:
    contact = seed(hotline, tmp_path)
    status, _ = hotline_post(
        hotline,
        f"/api/contacts/{contact}/evaluations",
        {
            "form": "call_quality",
            "answers": {
                "greeting": "yes",
                "verified": "yes",
                "understood": 5,
                "empathy": "na",
                "hold_explained": "na",
                "resolved": "yes",
                "wrap_up": "yes",
            },
        },
    )
    assert status == 201
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/reports/quality")
    page.wait_for_selector(
        'section[data-table="quality_agents"] td[data-key="agent"]:text-is("carol")'
    )
    assert (
        page.locator('section[data-table="quality_agents"] a[download]')
        .get_attribute("href")
        .startswith("/api/quality/quality_agents.csv")
    )
    page.wait_for_function(CHARTS_LOADED, arg=1)
    page.goto(f"{hotline.web_url}/reports/staffing?interval=hour")
    page.wait_for_selector('section[data-table="staffing"] tbody tr')
    assert page.locator('section[data-table="staffing"] tbody tr').count() == 24
    assert "shrinkage 30 %" in page.text_content("#summary")
    page.wait_for_function(CHARTS_LOADED, arg=2)


def hotline_post(hotline: RunningHotline, path: str, body: object) -> tuple[int, Any]:
    """POST with the API token (an admin)."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{hotline.web_url}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {hotline.secrets['api_token']}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
