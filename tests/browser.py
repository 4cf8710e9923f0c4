"""A real headless Chromium for web tests: Debian's /usr/bin/chromium driven by Playwright.

Fixtures `browser` (one per test module: Playwright's sync API keeps an event loop
running in the main thread while it is open, which would break `asyncio.run` in the
other modules' tests) and `page` (a fresh context per test, so cookies
never leak between tests), and `login()`. Playwright never downloads a browser here: it
is pointed at Debian's, started with the flags this machine's closed network needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def login(page, base_url: str, user: str, password: str) -> None:
    """Log in through the real login page; returns on the user's home page."""
    page.goto(f"{base_url}/login")
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_url(lambda url: "/login" not in url)
