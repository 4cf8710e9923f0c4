"""Messenger channels onto the same chat sessions: a Telegram-style bot (updates by
webhook, replies through the Bot API at a configurable base URL) and a generic JSON
webhook signed with HMAC-SHA256 both ways.

Inbound requests are checked before anything is stored: Telegram's secret token
header, or the webhook's `X-Hotline-Signature: sha256=<hex of HMAC(secret, body)>`.
A messenger user is recognised by their user/chat id (kind:id), like a widget visitor.
Replies go out in order per chat, retried with back-off while the messenger's API is
down; messages are in the store before they are sent, so nothing is lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

import aiohttp
from aiohttp import web

from chat_bridge.attachments import AttachmentRefused, download_url
from chat_bridge.bridge import ChatBridge, ChatRefused
from chat_bridge.chat import LiveChat
from chat_bridge.protocol import MAX_TEXT
from chat_bridge.ratelimit import TokenBucket
from hotline.chat_settings import TelegramSettings, WebhookSettings
from hotline.messages import RichMessageError, dump, fallback_text, parse_rich
from hotline.store import StoreError
from hotline.web.auth import public

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hotline-Signature"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 64 * 1024
#: Longest caption of a Telegram photo (characters).
TELEGRAM_CAPTION = 1024

Deliver = Callable[[LiveChat, dict[str, Any]], Awaitable[None]]


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    # Compared as bytes: compare_digest refuses non-ASCII text, and a header can hold any.
    expected = sign(secret, body).encode()
    return given is not None and hmac.compare_digest(expected, _raw(given.strip()))


def _raw(header: str) -> bytes:
    """A header value as bytes, whatever a client sent (aiohttp may hand back surrogates)."""
    return header.encode("utf-8", "replace")


class Outbox:
    """One chat's replies to its messenger, sent in order, retried while it fails."""

    def __init__(self, chat: LiveChat, deliver: Deliver, retries: int = 8) -> None:
        self.chat = chat
        self.deliver = deliver
        self.retries = retries
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"outbox-{chat.id}")

    def __call__(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message" and frame.get("from") != "customer":
            self.queue.put_nowait(frame)

    async def _run(self) -> None:
        while True:
            frame = await self.queue.get()
            delay = 0.5
            for attempt in range(self.retries):
                try:
                    await self.deliver(self.chat, frame)
                    break
                except (aiohttp.ClientError, TimeoutError, OSError) as error:
                    log.warning(
                        "chat %s: reply %s not delivered (%s), try %d",
                        self.chat.id,
                        frame.get("seq"),
                        error,
                        attempt + 1,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Messengers:
    """Both messenger channels: their webhooks and their outboxes."""

    def __init__(
        self,
        bridge: ChatBridge,
        http: aiohttp.ClientSession,
        telegram: TelegramSettings,
        webhook: WebhookSettings,
    ) -> None:
        self.bridge = bridge
        self.http = http
        self.telegram = telegram
        self.webhook = webhook
        self.outboxes: dict[str, Outbox] = {}
        self.buckets: dict[str, TokenBucket] = {}

    async def close(self) -> None:
        for outbox in self.outboxes.values():
            await outbox.close()

    def _allow(self, key: str) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            settings = self.bridge.settings
            bucket = self.buckets[key] = TokenBucket(settings.rate, settings.burst)
        return bucket.allow()

    async def _chat(self, kind: str, user: str, deliver: Deliver) -> tuple[LiveChat, bool]:
        chat, new = await self.bridge.messenger_session(kind, user)
        if chat.id not in self.outboxes:
            outbox = self.outboxes[chat.id] = Outbox(chat, deliver)
            self.bridge.attach(chat, outbox)
            if new:  # what the flow said before the outbox existed
                for message in await self.bridge.chats.messages(chat.id):
                    outbox({"type": "message", **message.public()})
        return chat, new

    def carry_on(self, chat: LiveChat) -> None:
        """A messenger's chat taken over after a restart (chat_bridge/recovery.py): its
        replies go out again, from the first one said after the restart."""
        deliver = {"telegram": self.telegram_send, "webhook": self.webhook_send}.get(chat.kind)
        if deliver is not None and chat.id not in self.outboxes:
            outbox = self.outboxes[chat.id] = Outbox(chat, deliver)
            self.bridge.attach(chat, outbox)

    async def _incoming(
        self,
        kind: str,
        user: str,
        text: str,
        message_id: str,
        deliver: Deliver,
        *,
        choice: bool = False,
        name: str | None = None,
        rich: dict[str, Any] | None = None,
    ) -> web.Response:
        if not self._allow(f"{kind}:{user}"):
            return _error(429, "rate_limited", "too many messages from this user; not stored")
        try:
            chat, new = await self._chat(kind, user, deliver)
            if new and name and chat.customer_id:
                with contextlib.suppress(StoreError):
                    customer = await self.bridge.store.customer(chat.customer_id)
                    if customer is not None and not customer.display_name:
                        await self.bridge.store.update_customer(
                            chat.customer_id, display_name=name[:200]
                        )
            await self.bridge.customer_message(
                chat,
                text,
                client_id=f"{kind}:{message_id}"[:64],
                choice=choice,
                feed=not new,
                data={"rich": rich} if rich else None,
                kind=str(rich["type"]) if rich else "text",
            )
        except ChatRefused as error:
            return _error(503, error.code, str(error))
        return web.json_response({"ok": True})

    # ---- Telegram ---------------------------------------------------------------------

    async def telegram_send(self, chat: LiveChat, frame: dict[str, Any]) -> None:
        settings = self.telegram
        data = frame.get("data") or {}
        method, payload = telegram_form(frame, await self._attachment_bytes(chat, data))
        payload["chat_id"] = chat.session.external_id
        url = f"{settings.api_base.rstrip('/')}/bot{settings.token}/{method}"
        body: dict[str, Any] = {"json": payload}
        if method == "sendDocument":  # the file's bytes themselves, as a form upload
            body = {"data": _document_form(payload)}
        async with self.http.post(url, **body, timeout=aiohttp.ClientTimeout(30)) as answer:
            if answer.status >= 500 or answer.status == 429:
                raise aiohttp.ClientResponseError(
                    answer.request_info, (), status=answer.status, message="retry later"
                )
            if answer.status >= 400:
                log.warning("telegram refused a reply to %s: %s", chat.id, answer.status)

    async def telegram_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
        secret = self.telegram.webhook_secret or ""
        if not given or not hmac.compare_digest(_raw(given), secret.encode()):
            return _error(403, "forbidden", "wrong or missing secret token")
        update = await _json_body(request)
        if isinstance(update, web.Response):
            return update
        if "callback_query" in update:
            query = _object(update["callback_query"])
            chat_id = _chat_id(_object(_object(query.get("message")).get("chat")).get("id"))
            data = query.get("data")
            if chat_id is None or not _good_text(data):
                return _error(400, "bad_update", "callback_query without chat or data")
            await self._answer_callback(query.get("id"))
            return await self._incoming(
                "telegram",
                str(chat_id),
                data[:64],
                f"cb{query.get('id') or update.get('update_id')}",
                self.telegram_send,
                choice=True,
            )
        message = update.get("message") or update.get("edited_message")
        if not isinstance(message, dict):
            return web.json_response({"ok": True, "ignored": "no message"})
        chat_id = _chat_id(_object(message.get("chat")).get("id"))
        text = message.get("text")
        if chat_id is None:
            return _error(
                400, "bad_update", "message without chat.id (a number or 1-200 characters)"
            )
        location = message.get("location")
        if location is not None and text is None:
            return await self._location(update, message, str(chat_id), location)
        if not isinstance(text, str) or not text.strip():
            return web.json_response(
                {"ok": True, "ignored": "only text messages and locations are read"}
            )
        if len(text) > MAX_TEXT:
            return _error(413, "too_large", f"text over {MAX_TEXT} characters; not stored")
        if not _good_text(text):
            return _error(400, "bad_update", "text must be valid Unicode without NUL; not stored")
        sender = _object(message.get("from"))
        return await self._incoming(
            "telegram",
            str(chat_id),
            text,
            str(update.get("update_id") or message.get("message_id")),
            self.telegram_send,
            name=sender.get("first_name") if _good_text(sender.get("first_name")) else None,
        )

    async def _attachment_bytes(
        self, chat: LiveChat, data: dict[str, Any]
    ) -> tuple[str, str, bytes] | None:
        """A file sent in this chat as (name, type, bytes) for the messenger, if kept."""
        info = data.get("attachment")
        attachments = self.bridge.attachments
        if not isinstance(info, dict) or attachments is None:
            return None
        found = await self.bridge.chats.attachment(str(info.get("id"))[:36])
        if found is None or found.session_id != chat.id:
            return None
        try:
            body = await attachments.body(found)
        except (OSError, AttachmentRefused):
            return None
        return found.filename, found.content_type, body

    async def _location(
        self, update: dict[str, Any], message: dict[str, Any], chat_id: str, location: Any
    ) -> web.Response:
        """A location the customer shared, stored as a rich location message."""
        place = _object(location)
        try:
            shared = parse_rich(
                {
                    "type": "location",
                    "latitude": place.get("latitude"),
                    "longitude": place.get("longitude"),
                }
            )
        except RichMessageError as error:
            return _error(400, "bad_update", f"{error}; not stored")
        return await self._incoming(
            "telegram",
            chat_id,
            fallback_text(shared),
            str(update.get("update_id") or message.get("message_id")),
            self.telegram_send,
            rich=dump(shared),
        )

    async def _answer_callback(self, query_id: Any) -> None:
        if not query_id:
            return
        settings = self.telegram
        url = f"{settings.api_base.rstrip('/')}/bot{settings.token}/answerCallbackQuery"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self.http.post(
                url, json={"callback_query_id": query_id}, timeout=aiohttp.ClientTimeout(5)
            ):
                pass

    # ---- the generic JSON webhook -----------------------------------------------------

    async def webhook_send(self, chat: LiveChat, frame: dict[str, Any]) -> None:
        body = json.dumps(
            {
                "user": chat.session.external_id,
                "seq": frame["seq"],
                "from": frame["from"],
                "text": self._webhook_text(frame),
                "buttons": (frame.get("data") or {}).get("buttons") or [],
                # A card, link, image or location as it is (hotline/messages.py);
                # `text` is its plain form for receivers that show only text.
                "rich": (frame.get("data") or {}).get("rich"),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.webhook.secret or "", body),
        }
        async with self.http.post(
            self.webhook.reply_url or "",
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(10),
        ) as answer:
            if answer.status >= 500 or answer.status == 429:
                raise aiohttp.ClientResponseError(
                    answer.request_info, (), status=answer.status, message="retry later"
                )

    def _webhook_text(self, frame: dict[str, Any]) -> str:
        """The message's text; a file (the webhook carries no files) as its name and a
        link to its download when `chat.public_url` is set."""
        text = str(frame["text"])
        info = (frame.get("data") or {}).get("attachment")
        base, secret = self.bridge.settings.public_url, self.webhook.secret
        if not isinstance(info, dict) or not base or not secret:
            return text
        return f"{text}: {download_url(base, secret, str(info.get('id'))[:36])}"

    async def webhook_in(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"body over {MAX_BODY} bytes; not stored")
        if not signature_ok(self.webhook.secret or "", body, request.headers.get(SIGNATURE_HEADER)):
            return _error(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER}; not stored")
        data = _json_object(body)
        if isinstance(data, web.Response):
            return data
        user, message_id = data.get("user"), data.get("id")
        text, choice = data.get("text"), data.get("choice")
        if not isinstance(user, str) or not 0 < len(user) <= 200:
            return _error(400, "bad_message", "user must be text of 1-200 characters")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= 50:
            return _error(400, "bad_message", "id must be text of 1-50 characters")
        said = choice if isinstance(choice, str) and choice else text
        if not isinstance(said, str) or not said.strip():
            return _error(400, "bad_message", "text (or choice) must be non-empty text")
        if len(said) > MAX_TEXT:
            return _error(413, "too_large", f"text over {MAX_TEXT} characters; not stored")
        if not all(_good_text(value) for value in (user, message_id, said)):
            return _error(400, "bad_message", "user, id and text must be valid Unicode without NUL")
        name = data.get("name") if _good_text(data.get("name")) else None
        return await self._incoming(
            "webhook",
            user,
            said,
            message_id,
            self.webhook_send,
            choice=said is choice,
            name=name,
        )


def telegram_form(
    frame: dict[str, Any], file: tuple[str, str, bytes] | None = None
) -> tuple[str, dict[str, Any]]:
    """A stored message in the Bot API's native form: (method, payload without chat_id).

    Cards become a photo with a caption (or a text) under an inline keyboard whose
    buttons open their link or answer the flow; images a photo; locations a location;
    a file sent in the chat a document (`file`: its name, type and bytes). Anything
    else, and a file no longer kept, goes as its text."""
    data = frame.get("data") or {}
    rich = data.get("rich") if isinstance(data.get("rich"), dict) else None
    kind = rich.get("type") if rich else None
    keyboard = [
        [{"text": b["label"], "callback_data": b["value"]}] for b in data.get("buttons") or []
    ]
    if kind == "card" and rich is not None:
        keyboard = [
            [
                {"text": b["label"], "url": b["url"]}
                if "url" in b
                else {"text": b["label"], "callback_data": b["value"]}
            ]
            for b in rich.get("buttons") or []
        ]
        words = "\n\n".join(p for p in (rich["title"], rich.get("text", "")) if p)
        if rich.get("image") and len(words) <= TELEGRAM_CAPTION:
            payload: dict[str, Any] = {"photo": rich["image"], "caption": words}
            method = "sendPhoto"
        else:
            payload, method = {"text": words[:MAX_TEXT]}, "sendMessage"
            if rich.get("image"):
                payload["text"] = f"{words}\n{rich['image']}"[:MAX_TEXT]
    elif kind == "image" and rich is not None:
        method = "sendPhoto"
        payload = {"photo": rich["url"], "caption": rich.get("caption", "")[:TELEGRAM_CAPTION]}
    elif kind == "location" and rich is not None:
        method = "sendLocation"
        payload = {"latitude": rich["latitude"], "longitude": rich["longitude"]}
    elif file is not None:
        name, content_type, body = file
        method = "sendDocument"
        payload = {"document": (name, content_type, body)}
    else:
        method, payload = "sendMessage", {"text": frame["text"]}
    if keyboard:
        payload["reply_markup"] = {"inline_keyboard": keyboard}
    return method, payload


def _document_form(payload: dict[str, Any]) -> aiohttp.FormData:
    """sendDocument as multipart/form-data (the Bot API takes uploads only so)."""
    form = aiohttp.FormData()
    for key, value in payload.items():
        if key == "document":
            name, content_type, body = value
            form.add_field("document", body, filename=name, content_type=content_type)
        else:
            form.add_field(key, value if isinstance(value, str) else json.dumps(value))
    return form


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(413, "too_large", f"body over {MAX_BODY} bytes; not stored")
    return _json_object(body)


def _json_object(body: bytes) -> dict[str, Any] | web.Response:
    """The body as a JSON object, or the error response saying why not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return _error(400, "bad_json", "the body is not JSON")
    if not isinstance(data, dict):
        return _error(400, "bad_message", "the body must be a JSON object")
    return data


def _object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (hostile updates nest anything)."""
    return value if isinstance(value, dict) else {}


def _chat_id(value: Any) -> str | None:
    """A Telegram chat id as text: an integer, or 1-200 characters of valid text."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 200 and _good_text(value):
        return value
    return None


def _good_text(value: Any) -> TypeGuard[str]:
    """Non-empty text the store can keep: no lone surrogates (JSON allows "\\ud800"),
    no NUL (PostgreSQL refuses it)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message, "code": code}, status=status)


def add_messenger_routes(app: web.Application, messengers: Messengers) -> None:
    """The enabled messengers' webhooks (public: each checks its own secret)."""
    if messengers.telegram.enabled:

        @public
        async def telegram(request: web.Request) -> web.StreamResponse:
            return await messengers.telegram_update(request)

        app.router.add_post("/chat/telegram", telegram)
    if messengers.webhook.enabled:

        @public
        async def webhook(request: web.Request) -> web.StreamResponse:
            return await messengers.webhook_in(request)

        app.router.add_post("/chat/webhook", webhook)
