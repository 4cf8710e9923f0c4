"""The messenger webhooks (chat_bridge/messengers.py) under hostile input: arbitrary
bytes, near-valid Telegram updates and near-valid signed JSON webhook bodies, with
right and wrong secrets and signatures. Whatever arrives: no 500, a refusal is a 4xx
with a readable error, and a refused request stores no chat and no message.

The application is the real one: build_web_app (auth) with the messenger routes, the
real chat bridge on an SQLite store running the project's chat flow, served on loopback
from a thread; replies go to stand-ins for the Bot API and the reply URL on the same
server.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests
import sqlalchemy as sa
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_bridge.messengers import (
    SIGNATURE_HEADER,
    TELEGRAM_SECRET_HEADER,
    Messengers,
    add_messenger_routes,
    sign,
)
from hotline.chat_settings import TelegramSettings, WebhookSettings
from hotline.store.models import ChatMessageRow, ChatSessionRow
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, public
from tests.unit.chat.conftest import chat_settings, make_rig
from tests.unit.fuzz.mutations import EXAMPLES, FUZZ, mutated, values
from tests.unit.fuzz.served import ServedInThread

TG_TOKEN = "123456:fuzz-token-abcdef"
TG_SECRET = "fuzz-telegram-secret-0123456789"
WH_SECRET = "fuzz-webhook-secret-0123456789"
ids = itertools.count(1)
#: Each example is an HTTP round trip (or two) through the chat bridge: a third of the
#: examples of the pure fuzz tests keeps this file to seconds in `make test`.
WEB_FUZZ = settings(FUZZ, max_examples=max(20, EXAMPLES // 3))

TELEGRAM_SEEDS: list[dict[str, Any]] = [
    {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 42, "first_name": "Ann"},
            "chat": {"id": 42, "type": "private"},
            "text": "hello",
        },
    },
    {
        "update_id": 2,
        "edited_message": {"message_id": 8, "chat": {"id": 43}, "text": "edited"},
    },
    {
        "update_id": 3,
        "callback_query": {
            "id": "cb-1",
            "from": {"id": 42},
            "message": {"message_id": 9, "chat": {"id": 42}},
            "data": "1",
        },
    },
]
WEBHOOK_SEEDS: list[dict[str, Any]] = [
    {"user": "u-1", "id": "m-1", "text": "hello", "name": "Ann"},
    {"user": "u-2", "id": "m-2", "choice": "1"},
]
#: Values that broke parsers elsewhere: huge ids, unicode, NUL, lone surrogates.
odd = st.one_of(
    values,
    st.sampled_from(
        [2**63, -(2**63), 10**100, 1e308, "\ud800", "a\x00b", "😀" * 50, "x" * 5000, [], {}]
    ),
)


class Served(ServedInThread):
    """The web app with both messenger webhooks, in a thread of its own."""

    async def _start(self) -> None:
        # A generous per-user limit: the fuzzing reuses a few user ids on purpose.
        self.rigging = make_rig(self.folder, chat_settings(rate=1000, burst=1000))
        self.rig = await self.rigging.__aenter__()
        store = self.rig.store
        sessions = Sessions(SessionStore(store), {})
        auth = Auth([], PasswordFile(self.folder / "passwords.yaml"), sessions, "api-token")
        app = build_web_app(auth)
        self.http = aiohttp.ClientSession()
        self.messengers = Messengers(
            self.rig.bridge,
            self.http,
            TelegramSettings(
                enabled=True,
                api_base=f"{self.url}/tg",
                token=TG_TOKEN,
                webhook_secret=TG_SECRET,
            ),
            WebhookSettings(enabled=True, secret=WH_SECRET, reply_url=f"{self.url}/replies"),
        )
        add_messenger_routes(app, self.messengers)
        self.replies: list[Any] = []

        @public
        async def stand_in(request: web.Request) -> web.Response:
            self.replies.append(await request.json())
            return web.json_response({"ok": True})

        app.router.add_post("/tg/{method:.*}", stand_in)
        app.router.add_post("/replies", stand_in)
        await self._serve(app)

    def stored(self) -> tuple[int, int]:
        """Chat sessions, and messages from customers, in the store."""

        async def count(conn: Any) -> tuple[int, int]:
            chats = await conn.scalar(sa.select(sa.func.count()).select_from(ChatSessionRow))
            said = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(ChatMessageRow)
                .where(ChatMessageRow.sender == "customer")
            )
            return chats, said

        return self.call(self.rig.store.read(count, "count chats"))

    async def _close(self) -> None:
        await self.messengers.close()
        await self.http.close()
        await self.rigging.__aexit__(None, None, None)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    app = Served(tmp_path_factory.mktemp("messengers")).start()
    yield app
    app.stop()


def post(served: Served, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{served.url}{path}", data=body, headers=headers, timeout=20)


def check(served: Served, path: str, body: bytes, headers: dict[str, str]) -> None:
    """The property every request must keep."""
    before = served.stored()
    got = post(served, path, body, headers)
    assert got.status_code < 500 or got.status_code == 503, (got.status_code, got.text)
    answer = got.json()
    if got.status_code >= 400:
        assert got.status_code in (400, 401, 403, 413, 429, 503), got.status_code
        assert answer["ok"] is False and answer["error"].strip() and answer["code"]
        assert served.stored() == before, (body, answer)
    else:
        assert answer["ok"] is True


def telegram(secret: str = TG_SECRET) -> dict[str, str]:
    return {TELEGRAM_SECRET_HEADER: secret, "Content-Type": "application/json"}


def signed(body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(WH_SECRET, body), "Content-Type": "application/json"}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")


@WEB_FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(served: Served, body: bytes) -> None:
    check(served, "/chat/telegram", body, telegram())
    check(served, "/chat/webhook", body, signed(body))


@WEB_FUZZ
@given(mutated(TELEGRAM_SEEDS), odd)
def test_near_valid_telegram_updates(served: Served, update: Any, extra: Any) -> None:
    if isinstance(update, dict) and update.get("update_id") in (1, 2, 3):
        update["update_id"] = 1000 + next(ids)  # a new message, not a resend of the seed
    check(served, "/chat/telegram", dumps(update), telegram())
    if isinstance(update, dict):  # the same update with one more odd value inside
        update.setdefault("message", {})
        if isinstance(update["message"], dict):
            update["message"]["chat"] = {"id": extra}
        check(served, "/chat/telegram", dumps(update), telegram())


@WEB_FUZZ
@given(mutated(WEBHOOK_SEEDS), odd)
def test_near_valid_signed_webhook_bodies(served: Served, data: Any, extra: Any) -> None:
    if isinstance(data, dict) and data.get("id") in ("m-1", "m-2"):
        data["id"] = f"m-{1000 + next(ids)}"  # a new message, not a resend of the seed
    body = dumps(data)
    check(served, "/chat/webhook", body, signed(body))
    if isinstance(data, dict):
        data[next(iter(data), "user")] = extra
        body = dumps(data)
        check(served, "/chat/webhook", body, signed(body))


headers = st.dictionaries(
    st.sampled_from([SIGNATURE_HEADER, TELEGRAM_SECRET_HEADER, "Content-Type"]),
    # Any header value HTTP can carry (no leading blank: clients refuse to send it).
    st.one_of(st.just(""), st.from_regex(r"[!-~][ -~]{0,79}", fullmatch=True)),
)


@WEB_FUZZ
@given(headers, st.sampled_from(["/chat/telegram", "/chat/webhook"]), st.sampled_from([0, 1]))
def test_hostile_signatures_and_headers(
    served: Served, given_headers: dict[str, str], path: str, seed: int
) -> None:
    seeds = TELEGRAM_SEEDS if path == "/chat/telegram" else WEBHOOK_SEEDS
    body = dumps(seeds[seed])
    right = sign(WH_SECRET, body) if path == "/chat/webhook" else TG_SECRET
    name = SIGNATURE_HEADER if path == "/chat/webhook" else TELEGRAM_SECRET_HEADER
    if given_headers.get(name, "").strip() == right:
        given_headers.pop(name)  # the fuzzer found the secret: not a hostile header
    before = served.stored()
    got = post(served, path, body, given_headers)
    assert got.status_code in (401, 403), got.text
    assert got.json()["error"] and served.stored() == before


def test_the_signature_is_over_the_exact_bytes(served: Served) -> None:
    body = dumps({"user": "sig-user", "id": "m-1", "text": "hello"})
    before = served.stored()
    for hostile in [
        sign(WH_SECRET, body + b" "),
        sign(WH_SECRET, body).replace("sha256=", "sha1="),
        "sha256=" + "0" * 64,
        "sha256=" + "é" * 64,
        "",
    ]:
        got = requests.post(
            f"{served.url}/chat/webhook",
            data=body,
            headers={SIGNATURE_HEADER: hostile.encode().decode("latin-1")},
            timeout=10,
        )
        assert got.status_code == 401
        assert got.json()["error"] == f"missing or wrong {SIGNATURE_HEADER}; not stored"
    for hostile in ["é" * 30, TG_SECRET + "\xff", TG_SECRET[:-1]]:
        got = requests.post(
            f"{served.url}/chat/telegram",
            data=dumps(TELEGRAM_SEEDS[0]),
            headers={TELEGRAM_SECRET_HEADER: hostile.encode().decode("latin-1")},
            timeout=10,
        )
        assert got.status_code == 403
        assert got.json()["error"] == "wrong or missing secret token"
    assert served.stored() == before


def test_found_by_fuzzing_are_clear_400s(served: Served) -> None:
    """Lone surrogates ("\\ud800" is valid JSON) and NUL cannot be stored; a chat that
    is not an object; a chat id that is a list."""
    before = served.stored()
    for data, error in [
        (
            {"user": "u", "id": "1", "text": "a\ud800"},
            "user, id and text must be valid Unicode without NUL",
        ),
        (
            {"user": "u\x00", "id": "1", "text": "hi"},
            "user, id and text must be valid Unicode without NUL",
        ),
    ]:
        body = dumps(data)
        got = post(served, "/chat/webhook", body, signed(body))
        assert got.status_code == 400 and got.json()["error"].startswith(error), got.text
    for message, error in [
        ({"chat": 5, "text": "hi"}, "message without chat.id"),
        ({"chat": {"id": [1]}, "text": "hi"}, "message without chat.id"),
        (
            {"chat": {"id": 1}, "text": "\ud83d"},
            "text must be valid Unicode without NUL; not stored",
        ),
    ]:
        got = post(served, "/chat/telegram", dumps({"message": message}), telegram())
        assert got.status_code == 400 and got.json()["error"].startswith(error), got.text
    got = post(served, "/chat/telegram", dumps({"callback_query": "x"}), telegram())
    assert got.status_code == 400
    assert got.json()["error"] == "callback_query without chat or data"
    assert served.stored() == before


def test_valid_messages_still_work_after_the_fuzzing(served: Served) -> None:
    chats, said = served.stored()
    user = f"after-{next(ids)}"
    body = dumps({"user": user, "id": "m-1", "text": "hello after the fuzzing"})
    got = post(served, "/chat/webhook", body, signed(body))
    assert got.status_code == 200 and got.json() == {"ok": True}
    update = {
        "update_id": 10**6 + next(ids),
        "message": {"message_id": 1, "chat": {"id": 10**9 + next(ids)}, "text": "hi"},
    }
    got = post(served, "/chat/telegram", dumps(update), telegram())
    assert got.status_code == 200 and got.json() == {"ok": True}
    assert served.stored() == (chats + 2, said + 2)
