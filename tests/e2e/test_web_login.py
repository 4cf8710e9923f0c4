"""Logging in to the web in a real Chromium against a running Hotline."""

from __future__ import annotations

import pytest

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline

pytestmark = pytest.mark.e2e


def me(page, hotline: RunningHotline) -> tuple[int, dict]:
    response = page.request.get(f"{hotline.web_url}/api/me")
    return response.status, response.json()


def test_a_supervisor_logs_in_sees_their_role_and_logs_out(hotline: RunningHotline, page) -> None:
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    status, body = me(page, hotline)
    assert (status, body["role"], body["home"]) == (200, "supervisor", "/wallboard")
    assert page.request.get(f"{hotline.web_url}/api/contacts").status == 200
    page.request.post(f"{hotline.web_url}/logout")
    assert me(page, hotline)[0] == 401


def test_an_agent_cannot_read_what_supervisors_read(hotline: RunningHotline, page) -> None:
    login(page, hotline.web_url, "carol", TEST_PASSWORD)
    assert me(page, hotline)[1]["agent_id"] == "carol"
    refused = page.request.get(f"{hotline.web_url}/api/recordings")
    assert refused.status == 403
    assert refused.json()["error"] == "this needs the supervisor role; you are agent"
    other = page.request.post(f"{hotline.web_url}/api/agents/dave/pause")
    assert (other.status, other.json()["error"]) == (403, "agents change only their own state")


def test_a_wrong_password_is_shown_on_the_page(hotline: RunningHotline, page) -> None:
    page.goto(f"{hotline.web_url}/")
    assert page.url.endswith("/login")
    page.fill("#user", "sue")
    page.fill("#password", "not the password")
    page.click("#login-button")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.text_content("#login-error") == "wrong user name or password"
    assert me(page, hotline)[0] == 401
