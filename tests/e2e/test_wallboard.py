"""The supervisors' wallboard and reports in a real headless Chromium, while SIPp
callers wait in and leave real Asterisk queues and SIPp agents' phones ring and answer.

Queues and agents are the session's test ones (tests/e2e/conftest.py): 304 ->
e2e_fifo (carol), 306 -> e2e_slow (frank, leave key *). Counters are the day's, shared
with the other tests of the session, so the tests look at what changes.
"""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.sipp import ExpectHangup, Keys, Wait
from tests.e2e.test_ivr_call import contact_of
from tests.e2e.test_queue import caller, phone

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

ROW = 'tr[data-queue="{queue}"][data-channel="voice"]'
AGENT = 'tr[data-agent="{agent}"][data-channel="voice"]'


def ended_contact(hotline: RunningHotline, number: str):  # type: ignore[no-untyped-def]
    """contact_of from a thread: Playwright's sync API keeps an event loop on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contact_of, hotline, number).result()


def open_wallboard(page, hotline: RunningHotline) -> None:  # type: ignore[no-untyped-def]
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/wallboard")
    page.wait_for_selector('#connection[data-connected="true"]')


def cell(page, queue: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """A queue row's cell text ("" while the queue has no row)."""
    found = page.query_selector(f"{ROW.format(queue=queue)} td.{name}")
    return found.text_content() if found else ""


def when(page, script: str, arg: object = None, timeout: float = 30_000) -> float:  # type: ignore[no-untyped-def]
    """Wait until `script(arg)` is true in the page; the browser's clock then, in s."""
    body = f"(arg) => ({script}) ? Date.now() : false"
    return page.wait_for_function(body, arg=arg, timeout=timeout, polling="raf").json_value() / 1000


WAITING = """document.querySelector(arg.row + ' td.waiting')?.textContent === arg.value"""
STATE = """document.querySelector(arg.row + ' td.state')?.dataset.state === arg.state"""
COUNT = """Number(document.querySelector(arg.row + ' td.' + arg.name)?.textContent) >= arg.value"""


def test_a_waiting_caller_shows_within_a_second_then_leaves(hotline: RunningHotline, page) -> None:  # type: ignore[no-untyped-def]
    open_wallboard(page, hotline)
    row = ROW.format(queue="e2e_slow")
    page.wait_for_selector(row)
    abandoned = int(cell(page, "e2e_slow", "abandoned") or 0)
    frank = phone(hotline, "frank", "no_answer", wait=30)
    call = caller(hotline, "5557001", "306", [Wait(8), Keys("*"), ExpectHangup(30)])
    shown = when(page, WAITING, {"row": row, "value": "1"})
    when(page, STATE, {"row": AGENT.format(agent="frank"), "state": "ringing"})
    assert page.text_content(f"{AGENT.format(agent='frank')} td.load") == "0/1"
    # The caller presses the leave key after 8 s: an abandon (not a short one).
    when(page, COUNT, {"row": row, "name": "abandoned", "value": abandoned + 1})
    assert cell(page, "e2e_slow", "waiting") == "0"
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert frank.wait_done().ok
    _, events = ended_contact(hotline, "5557001")
    joined = next(e.ts for e in events if e.type == "contact.join").timestamp()
    assert shown - joined < 1.0, f"shown {shown - joined:.2f} s after the caller joined"


def test_an_answered_call_shows_the_agent_talking_and_counts(hotline: RunningHotline, page) -> None:  # type: ignore[no-untyped-def]
    open_wallboard(page, hotline)
    row = ROW.format(queue="e2e_fifo")
    page.wait_for_selector(row)
    answered = int(cell(page, "e2e_fifo", "answered") or 0)
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=4)
    call = caller(hotline, "5557002", "304", [ExpectHangup(60)])
    agent = AGENT.format(agent="carol")
    when(page, STATE, {"row": agent, "state": "busy"})
    talking_to = page.text_content(f"{agent} td.contact")
    assert page.text_content(f"{agent} td.load") == "1/1"
    when(page, COUNT, {"row": row, "name": "answered", "value": answered + 1})
    level = page.query_selector(f"{row} td.sl")
    assert level.text_content().endswith("%")
    assert level.get_attribute("data-colour") in ("green", "amber", "red")
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    contact, _ = ended_contact(hotline, "5557002")
    assert talking_to == contact.id[:8]
    when(page, STATE, {"row": agent, "state": "available"}, timeout=10_000)


def test_reports_page_charts_tables_and_downloads(
    hotline: RunningHotline, page, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=1)
    call = caller(hotline, "5557003", "304", [ExpectHangup(60)])
    assert call.wait(60).ok and carol.wait_done().ok  # today has an answered e2e_fifo call
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/reports?queue=e2e_fifo")
    page.wait_for_selector("body[data-loaded]")
    rows = page.query_selector_all('table[data-table="queues"] tbody tr')
    assert rows and rows[0].query_selector('td[data-key="queue"]').text_content() == "e2e_fifo"
    assert int(rows[0].query_selector('td[data-key="answered"]').text_content()) >= 1
    for chart in ("volume", "service_level", "handle_time", "timeline"):
        image = f'figure[data-chart="{chart}"] img'
        page.wait_for_function(f"document.querySelector('{image}').naturalWidth > 0")
    with page.expect_download() as csv:
        page.click('h2:has-text("By queue and channel") a')
    assert csv.value.suggested_filename == "hotline-queues.csv"
    assert Path(csv.value.path()).read_text().startswith("queue,channel,offered,answered")
    with page.expect_download() as png:
        page.click('figure[data-chart="service_level"] button')
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.select_option('select[name="interval"]', "day")
    page.fill('input[name="agent"]', "nobody")
    page.click('form button[type="submit"]')
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error").startswith("unknown agent 'nobody': known agents are")


def test_agents_cannot_open_the_wallboard(hotline: RunningHotline, page) -> None:  # type: ignore[no-untyped-def]
    login(page, hotline.web_url, "carol", TEST_PASSWORD)
    for path in ("/api/wallboard", "/api/reports"):
        response = page.request.get(f"{hotline.web_url}{path}")
        assert response.status == 403
        assert response.json()["error"] == "this needs the supervisor role; you are agent"


def test_prometheus_sees_the_running_hotline(hotline: RunningHotline) -> None:
    call = caller(hotline, "5557004", "310", [ExpectHangup(30)])  # reads a queue's status
    assert call.wait(40).ok
    request = urllib.request.Request(
        f"{hotline.web_url}/metrics",
        headers={"Authorization": f"Bearer {hotline.secrets['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    # Calls went through ARI (answer, play, bridges...): its round trips are measured.
    assert samples['hotline_ari_request_seconds_count{method="POST"}'] > 0
    assert 'hotline_queue_waiting{channel="voice",queue="e2e_fifo"}' in samples
    assert samples["hotline_calls_active"] >= 0 and "hotline_chats_active" in samples
    assert any(key.startswith('hotline_agents{channel="voice",state=') for key in samples)
    assert samples["hotline_event_loop_lag_seconds"] < 1.0
    assert samples['hotline_events_total{type="call.arrived"}'] >= 1
