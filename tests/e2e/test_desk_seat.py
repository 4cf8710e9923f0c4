"""The agent's seat in a real headless Chromium, on a real Asterisk (issue 16): a SIPp
caller (RTP to a sink here) reaches judy's SIPp phone (number 331, queue e2e_chat;
tests/e2e/conftest.py); judy's desk shows the live call with the customer card; her
desk's Hold button puts the caller on the queue's music (measured at the caller, as
tests/e2e/test_call_control.py does) and the supervisor's wallboard shows her "on hold"
(in Chromium and over HTTP) until Resume; the transfer picker lists her colleagues with
their presence and the queues with their waiting count, shows the server's refusal of a
number the dial rules refuse, and transfers the caller to a number.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_chat_desk import events_of, open_desk, wait_events

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

JUDY = 'tr[data-agent="judy"][data-channel="voice"] td.state'


def wallboard_json(hotline: RunningHotline) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{hotline.web_url}/api/wallboard",
        headers={"Authorization": f"Bearer {hotline.secrets['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def report_rows(hotline: RunningHotline, table: str, **match: Any) -> list[dict[str, Any]]:
    """Today's report (by day, for one agent: a query no other test asks for, so not
    one the reports page keeps for 30 s) as the API token sees it."""
    query = "interval=day&" + "&".join(f"{k}={v}" for k, v in match.items())
    request = urllib.request.Request(
        f"{hotline.web_url}/api/reports?{query}",
        headers={"Authorization": f"Bearer {hotline.secrets['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        rows = json.loads(response.read())["tables"][table]["rows"]
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def activity(view: dict[str, Any], agent: str) -> str | None:
    (row,) = [a for a in view["agents"] if a["agent"] == agent]
    (voice,) = [c for c in row["channels"] if c["channel"] == "voice"]
    return (voice.get("activity") or {}).get("activity")


def test_hold_from_the_desk_plays_music_shows_on_the_wallboard_then_transfer(
    browser: Any, hotline: RunningHotline
) -> None:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    board_context = browser.new_context()
    board_context.set_default_timeout(15_000)
    sink = RtpSink()
    marks: dict[str, float] = {}
    phone = TransferTarget(
        hotline.workdir / "phones",
        "answer_until_hangup",
        hotline.targets["judy"],
        ring=0.3,
        talk=50,
    ).start()
    customer = TransferTarget(
        hotline.workdir / "phones", "answer", hotline.targets["customer"], ring=0.5, talk=3
    ).start()
    try:
        desk = open_desk(context, hotline, "judy")
        board = board_context.new_page()
        login(board, hotline.web_url, "sue", TEST_PASSWORD)
        board.goto(f"{hotline.web_url}/wallboard")
        board.wait_for_selector('#connection[data-connected="true"]')
        call = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            "331",
            "5556341",
            [ExpectHangup(90)],
            rtp_port=sink.port,
        ).start()
        desk.wait_for_selector("#call[data-phase=talking]", timeout=20_000)
        marks["talking"] = time.monotonic()
        panel = desk.locator("#call")
        contact_id = panel.get_attribute("data-contact-id") or ""
        # The live call with the customer card.
        shown = panel.inner_text()
        assert "On a call" in shown and "e2e_chat" in shown
        assert "5556341" in desk.locator("#card-body").inner_text()

        # The picker: colleagues with their presence, queues with their waiting count.
        desk.wait_for_selector("#call .targets[data-loaded=true]")
        options = panel.locator("select.transfer-to option").all_inner_texts()
        assert options[0] == "Number…"
        colleagues = [o for o in options if " — " in o and not o.startswith("Queue ")]
        assert colleagues, options
        assert all(
            o.rsplit(" — ", 1)[1].split(" ")[0] in ("available", "busy", "paused", "offline")
            for o in colleagues
        ), colleagues
        assert not any(o.startswith("judy") or o.startswith("Judy") for o in colleagues)
        assert any(o.startswith("Queue e2e_chat — 0 waiting") for o in options), options
        time.sleep(2)

        # Hold from the desk: the caller hears the queue's music; the wallboard shows it.
        marks["hold"] = time.monotonic()
        panel.locator("button.hold").click()
        desk.wait_for_selector("#call[data-held=true] button.resume")
        # The music's window starts once the desk shows the hold done (the server's
        # answer), not at the click, which a loaded box may answer late.
        marks["held"] = time.monotonic()
        board.wait_for_selector(f'{JUDY}[data-activity="on hold"]', timeout=5_000)
        assert "on hold" in board.locator(JUDY).inner_text()
        on_hold = int(board.locator('#calls div[data-key="on_hold"] dd').inner_text())
        assert on_hold >= 1
        view = wallboard_json(hotline)
        assert activity(view, "judy") == "on hold" and view["calls"]["on_hold"] >= 1
        time.sleep(4)
        marks["resume"] = time.monotonic()
        panel.locator("button.resume").click()
        desk.wait_for_selector("#call[data-held=false] button.hold")
        board.wait_for_selector(f"{JUDY}:not([data-activity])", timeout=5_000)
        assert activity(wallboard_json(hotline), "judy") is None
        time.sleep(2.5)
        marks["checked"] = time.monotonic()

        # A number the dial rules refuse: the server's reason in the picker, call untouched.
        panel.locator("input.transfer-number").fill("12")
        panel.locator("button.transfer").click()
        error = desk.locator("#call .target-error")
        error.filter(has_text="cannot dial number:12").wait_for()
        assert "'12' has 2 digits" in error.inner_text()
        assert error.get_attribute("role") == "alert"
        time.sleep(1)
        assert panel.get_attribute("data-phase") == "talking"
        assert [e for e in events_of(hotline, contact_id) if e.type == "call.transferred"] == []
        # Typing again clears it; a good number takes the caller, judy goes to wrap-up.
        panel.locator("input.transfer-number").fill("5557741")
        assert error.is_hidden()
        panel.locator("input.transfer-note").fill("asked for the shop")
        panel.locator("button.transfer").click()
        desk.wait_for_selector("#call[data-phase=wrap_up]", timeout=20_000)
        result = call.wait(60)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert phone.wait_done().ok and customer.wait_done(30).ok
        assert "INVITE sip:5557741@" in customer.messages()
        # The wallboard counts the hold and the transfer (today's, shared with others).
        view = wallboard_json(hotline)
        assert view["calls"]["holds"] >= 1 and view["calls"]["blind_external"] >= 1
    finally:
        phone.stop()
        customer.stop()
        sink.close()
        context.close()
        board_context.close()

    talking = sink.audible_seconds(marks["talking"] + 0.5, marks["hold"])
    held = sink.audible_seconds(marks["held"] + 0.8, marks["resume"])
    back = sink.audible_seconds(marks["resume"] + 0.8, marks["checked"])
    assert talking < 0.3, f"{talking:.2f} s of sound while talking to a silent agent"
    # Music on hold has quiet passages: most of the hold, not all of it, is audible.
    assert held >= 0.6 * (marks["resume"] - marks["held"] - 0.8), f"{held:.2f} s of music"
    assert back < 0.3, f"{back:.2f} s of sound after resume"

    events = wait_events(hotline, contact_id, "transfer.ended")
    (hold,) = [e.data for e in events if e.type == "call.held"]
    assert hold == {"agent": "judy", "by": "judy"}
    (resumed,) = [e.data for e in events if e.type == "call.resumed"]
    assert resumed["by"] == "judy" and 3.5 <= resumed["hold_seconds"] <= 7
    (moved,) = [e.data for e in events if e.type == "call.transferred"]
    assert moved["to"] == "number:5557741" and moved["kind"] == "blind"
    assert moved["note"] == "asked for the shop"
    # Today's report counts judy's hold and transfer (other tests' calls count too).
    (judy,) = report_rows(hotline, "handling_agents", agent="judy")
    assert judy["holds"] >= 1 and judy["hold_time"] >= resumed["hold_seconds"]
    assert judy["blind_external"] >= 1 and judy["hold_share"] > 0


def test_the_picker_shows_a_refusal_then_transfers_to_an_available_colleague(
    browser: Any, hotline: RunningHotline
) -> None:
    """judy picks a colleague the picker shows paused or offline: the server's reason is
    shown in the picker and the call stays with her; then carol, shown available, takes
    the caller on her phone and judy's panel turns to wrap-up."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    phone = TransferTarget(
        hotline.workdir / "phones",
        "answer_until_hangup",
        hotline.targets["judy"],
        ring=0.3,
        talk=40,
    ).start()
    carol = TransferTarget(
        hotline.workdir / "phones", "answer", hotline.targets["carol"], ring=0.5, talk=3
    ).start()
    try:
        desk = open_desk(context, hotline, "judy")
        call = SippCall(
            hotline.workdir / "sipp", hotline.sip_port, "331", "5556342", [ExpectHangup(60)]
        ).start()
        desk.wait_for_selector("#call[data-phase=talking]", timeout=20_000)
        panel = desk.locator("#call")
        contact_id = panel.get_attribute("data-contact-id") or ""
        desk.wait_for_selector("#call .targets[data-loaded=true]")
        away = panel.locator(
            'select.transfer-to option[data-presence="paused"], '
            'select.transfer-to option[data-presence="offline"]'
        )
        assert away.count() >= 1  # test agents with no phone registered: unreachable
        value = away.first.get_attribute("value") or ""
        label = away.first.inner_text()
        panel.locator("select.transfer-to").select_option(value)
        assert panel.locator(".targets").get_attribute("data-presence") in ("paused", "offline")
        assert panel.locator("input.transfer-number").is_hidden()
        panel.locator("button.transfer").click()
        error = panel.locator(".target-error")
        error.filter(has_text=f"cannot transfer to {value.split(':', 1)[1]}").wait_for()
        assert panel.get_attribute("data-phase") == "talking", label
        assert [e for e in events_of(hotline, contact_id) if e.type == "call.transferred"] == []

        shown = panel.locator('select.transfer-to option[value="agent:carol"]').inner_text()
        assert shown == "Carol — available"
        panel.locator("select.transfer-to").select_option("agent:carol")
        assert error.is_hidden()  # a new choice clears the last refusal
        panel.locator("button.transfer").click()
        desk.wait_for_selector("#call[data-phase=wrap_up]", timeout=20_000)
        result = call.wait(60)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert phone.wait_done().ok and carol.wait_done(30).ok
    finally:
        phone.stop()
        carol.stop()
        context.close()
    events = wait_events(hotline, contact_id, "call.ended")
    (moved,) = [e.data for e in events if e.type == "call.transferred"]
    assert (moved["to"], moved["kind"], moved["by"]) == ("agent:carol", "blind", "judy")
    connected = [e.data["agent"] for e in events if e.type == "queue.connected"]
    assert connected == ["judy", "carol"]
