"""A real headless Chromium for web tests: Debian's /usr/bin/chromium driven by Playwright.

Fixtures `browser` (one per test module: Playwright's sync API keeps an event loop
running in the main thread while it is open, which would break `asyncio.run` in the
other modules' tests) and `page` (a fresh context per test, so cookies
never leak between tests), and `login()`. Playwright never downloads a browser here: it
is pointed at Debian's, started with the flags this machine's closed network needs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def chromium(*flags: str) -> Iterator[Any]:
    """Debian's Chromium, headless, with FLAGS and `flags`, until the block ends."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*FLAGS, *flags]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def write_tone(path: Path) -> Path:
    """A steady 440 Hz tone of 30 s at `path` (WAV): a fake microphone (Chromium loops
    the file)."""
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path),
         "synth", "30", "sine", "440", "vol", "0.5"],
        check=True,
    )  # fmt: skip
    return path


@contextlib.contextmanager
def chromium_with_a_microphone(tone: Path, *flags: str) -> Iterator[Any]:
    """Chromium with fake media devices: the microphone is granted without asking and
    is `tone`; loopback host candidates allowed (Asterisk is on a loopback address) and
    not hidden behind mDNS names (Asterisk cannot resolve them); audio plays unprompted."""
    with chromium(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
        *flags,
    ) as launched:
        yield launched


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
