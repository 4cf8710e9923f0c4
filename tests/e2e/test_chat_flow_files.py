"""A flow sends a file, end to end on a real controller (and Asterisk) whose chats run
a flow with `file: price-list.pdf` (in `files/` beside the flows):

- the widget in headless Chromium shows it as a download link; the customer downloads
  it and gets the same bytes;
- Telegram's Bot API stand-in gets `sendDocument` with the file's bytes uploaded;
- the JSON webhook, which carries no files, gets its name and a link to its download
  (`chat.public_url`), which opens that file only with its own key.

Each story stores the file as the chat's attachment before it is delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chat_bridge.messengers import SIGNATURE_HEADER, TELEGRAM_SECRET_HEADER, sign
from tests.e2e.conftest import (
    RunningHotline,
    spawn,
    stop_spawned,
    wait_ready,
    with_test_flows,
    without_speech,
)
from tests.e2e.conftest import test_config as config_for_test
from tests.e2e.test_chat_desk import open_widget
from tests.e2e.test_chat_messengers import run, sessions_of, telegram_update

pytestmark = [pytest.mark.e2e]

#: Over 100 kB, so it is not one small chunk anywhere on its way.
PDF = b"%PDF-1.4\n% the price list\n" + bytes(range(256)) * 500 + b"\n%%EOF\n"

FLOW = """\
name: e2e_files
start: hello
nodes:
  hello:
    type: play
    prompts:
      - chat_welcome
      - file: price-list.pdf
    next: wait
  # Keeps the chat open while the test looks at it.
  wait:
    type: menu
    prompt: chat_language
    options: {"1": bye, "2": bye}
    on: {exhausted: bye}
  bye:
    type: hangup
"""


@pytest.fixture(scope="module")
def files_hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    """A controller whose chats (widget and messengers) run e2e_files."""
    workdir = tmp_path_factory.mktemp("flow-files")
    config, targets = with_test_flows(config_for_test(f"files-{os.getpid()}"), workdir)
    config = without_speech(config)  # nothing here listens: no Vosk model to load
    flows = Path(config["flows_dir"])
    (flows / "e2e_files.yaml").write_text(FLOW)
    (flows / "files").mkdir()
    (flows / "files" / "price-list.pdf").write_bytes(PDF)
    config["chat"]["flow"] = "e2e_files"
    config["chat"]["public_url"] = f"http://127.0.0.1:{config['web']['port']}"
    running = spawn(config, workdir, targets)
    try:
        wait_ready(running)
        yield running
    finally:
        # A failed start too: whatever it had started is stopped (its Asterisk).
        leftover = stop_spawned(running)
    assert running.proc.returncode == 0, running.log_tail()
    assert not leftover, f"Asterisk was left running after hotline run stopped: {leftover}"


class Api:
    """A loopback stand-in for a messenger's API: every request's path and fields
    (a JSON body, or a multipart form's fields with uploads as (name, type, bytes))."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application(client_max_size=10 * 1024 * 1024)
        self.app.router.add_post("/{tail:.*}", self.take)
        self.runner = web.AppRunner(self.app)

    async def take(self, request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            fields: dict[str, Any] = {}
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    fields[name] = (value.filename, value.content_type, value.file.read())
                else:
                    fields[name] = value
        else:
            fields = json.loads(await request.read())
        self.received.append((request.path, fields))
        self.arrived.set()
        return web.json_response({"ok": True, "result": {}})

    async def __aenter__(self) -> Api:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    async def wait_for(
        self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for path, fields in self.received:
                    if predicate(path, fields):
                        return fields
                self.arrived.clear()
                await self.arrived.wait()


def stored_file(hotline: RunningHotline, kind: str, user: str) -> Any:
    """The chat's one attachment message, as stored."""

    async def query() -> Any:
        _session, messages = await sessions_of(hotline, kind, user)
        [message] = [m for m in messages if m.kind == "attachment"]
        return message

    return run(query)


def test_the_widget_customer_downloads_the_flows_file(
    browser: Any, files_hotline: RunningHotline, tmp_path: Path
) -> None:
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        page = open_widget(context, files_hotline)
        link = page.locator(
            "#hotline-chat .msg.from-system a.attachment", has_text="price-list.pdf"
        )
        link.wait_for()
        with page.expect_download() as started:
            link.click()
        download = started.value
        assert download.suggested_filename == "price-list.pdf"
        saved = tmp_path / "got.pdf"
        download.save_as(saved)
        assert saved.read_bytes() == PDF
        # The link is the chat's own: without its session the same address is refused.
        href = link.get_attribute("href") or ""
        bare = href.split("?", 1)[0]
        assert context.request.get(bare).status == 404
        assert context.request.get(bare + "?session=not-a-session").status == 404
    finally:
        context.close()


def test_telegram_gets_the_file_as_a_document(files_hotline: RunningHotline) -> None:
    secret = files_hotline.config["chat"]["telegram"]["webhook_secret"]
    url = f"{files_hotline.web_url}/chat/telegram"
    chat = 424242

    async def scenario() -> dict[str, Any]:
        api_port = files_hotline.targets["telegram_api"]
        async with Api(api_port) as api, aiohttp.ClientSession() as http:
            update = telegram_update(1, chat, "/start")
            headers = {TELEGRAM_SECRET_HEADER: secret}
            async with http.post(url, json=update, headers=headers) as answer:
                assert answer.status == 200
            document = await api.wait_for(lambda path, _f: path.endswith("/sendDocument"))
            # Said in order: the welcome before the file, the menu after it.
            paths = [p.rsplit("/", 1)[-1] for p, _f in api.received]
            assert paths[: paths.index("sendDocument") + 1][-2:] == ["sendMessage", "sendDocument"]
            return document

    document = run(scenario)
    assert document["chat_id"] == str(chat)
    assert document["document"] == ("price-list.pdf", "application/pdf", PDF)
    message = stored_file(files_hotline, "telegram", str(chat))
    assert (message.sender, message.text) == ("system", "price-list.pdf")
    assert message.data["attachment"]["size"] == len(PDF)


def test_the_json_webhook_gets_a_link_to_the_file(files_hotline: RunningHotline) -> None:
    secret = files_hotline.config["chat"]["webhook"]["secret"]
    url = f"{files_hotline.web_url}/chat/webhook"

    async def scenario() -> tuple[dict[str, Any], bytes, list[int]]:
        port = files_hotline.targets["webhook_reply"]
        async with Api(port) as replies, aiohttp.ClientSession() as http:
            raw = json.dumps({"user": "files-1", "id": "m1", "text": "hello"}).encode()
            headers = {SIGNATURE_HEADER: sign(secret, raw), "Content-Type": "application/json"}
            async with http.post(url, data=raw, headers=headers) as answer:
                assert answer.status == 200
            reply = await replies.wait_for(
                lambda _p, b: str(b.get("text", "")).startswith("price-list.pdf: ")
            )
            link = reply["text"].removeprefix("price-list.pdf: ")
            async with http.get(link) as got:
                assert got.status == 200
                assert got.headers["Content-Disposition"].startswith("attachment;")
                body = await got.read()
            refused = []
            for wrong in (link[:-1] + ("0" if link[-1] != "0" else "1"), link.split("?")[0]):
                async with http.get(wrong) as answer:
                    refused.append(answer.status)
            return reply, body, refused

    reply, body, refused = run(scenario)
    assert body == PDF
    assert refused == [404, 404]
    assert reply["rich"] is None and reply["from"] == "system"
    message = stored_file(files_hotline, "webhook", "files-1")
    assert reply["seq"] == message.seq
    assert reply["text"].startswith(
        f"price-list.pdf: {files_hotline.web_url}/chat/attachments/"
        f"{message.data['attachment']['id']}?key="
    )
