"""The flow as text: a FlowPort for chats (interactive text response).

The interpreter is the same as for calls; this port says prompts as chat messages
(the catalogue's text in the chat's language, a `<key>.chat` variant where the voice
text says "press"), turns a menu into numbered options with buttons (labels from
`<key>.option.<n>` entries), takes typed text or a button as the answer, and has a
text form for the voice-only steps: `record` asks for a written message, `transfer`
answers "failed" (the linter flags it in chat flows). Waiting for an answer has no
voice timeout: after `reminder_after` seconds of silence the customer is reminded,
after `close_after` more the chat closes (CallerGone).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chat_bridge.attachments import Attachments
from hotline.catalogue import Catalogue
from hotline.file_types import AttachmentRefused, type_of
from hotline.flows.port import Answer, Ask, CallerGone, Channel, Prompt, Recording, TransferOutcome
from hotline.messages import choices, dump, fallback_text

#: Catalogue keys of the port's own messages.
REMINDER = "chat_reminder"
INACTIVE_CLOSED = "chat_inactive_closed"
TYPE_MESSAGE = "chat_type_message"


@dataclass(frozen=True)
class Input:
    """What the customer sent: typed `text`, or a button's `value`."""

    text: str
    choice: bool = False
    seq: int | None = None


@dataclass(frozen=True)
class Button:
    value: str
    label: str


class FileNotSent(Exception):
    """A flow's `file:` could not be sent (gone since the flow was checked, over the
    chat's limits, files not enabled): the node takes its `error` outcome."""


class Conversation(Protocol):
    """What the text port needs from the chat it runs in."""

    @property
    def id(self) -> str:
        """The chat session's id (attachments are stored under it)."""

    async def say(self, text: str, *, buttons: Sequence[Button] = (), **data: Any) -> None:
        """Store and deliver a message from the flow ("system")."""

    async def next_input(self, timeout: float) -> Input | None:
        """The customer's next message, or None after `timeout` seconds of nothing.
        Raises CallerGone once the chat is closed."""

    async def end(self) -> None:
        """The flow ended the chat (a hangup node)."""


def render(catalogue: Catalogue | None, prompts: Sequence[Prompt], language: str) -> str:
    """The prompts as one text: catalogue texts (chat variants first), values as text."""
    parts: list[str] = []
    for prompt in prompts:
        lang = prompt.language or language
        if prompt.key is not None:
            parts.append(prompt_text(catalogue, prompt.key, lang))
        elif prompt.value is not None:
            parts.append(say_as(prompt.say, prompt.value))
    return " ".join(p for p in parts if p)


def prompt_text(catalogue: Catalogue | None, key: str, language: str) -> str:
    if catalogue is None:
        return key
    return catalogue.text(f"{key}.chat", language) or catalogue.text(key, language) or key


def say_as(kind: str | None, value: str) -> str:
    """A `say` prompt's value as a chat shows it (digits spaced, the rest as it is)."""
    if kind == "digits":
        return " ".join(value)
    return value


def buttons_for(
    catalogue: Catalogue | None,
    prompts: Sequence[Prompt],
    keys: Sequence[str],
    language: str,
    labels: Mapping[str, str] | None = None,
) -> list[Button]:
    """A button per key, labelled from `labels` (the flow's own, e.g. article titles) or
    from `<prompt key>.option.<key>` if the catalogue has it."""
    buttons = []
    for key in keys:
        label = labels.get(key) if labels else None
        for prompt in prompts if label is None else ():
            if prompt.key and catalogue is not None:
                lang = prompt.language or language
                label = catalogue.text(f"{prompt.key}.option.{key}", lang)
                if label:
                    break
        buttons.append(Button(key, f"{key}. {label}" if label else key))
    return buttons


_SEPARATORS = re.compile(r"[\s\-().]")


def answer_text(ask: Ask, given: Input, buttons: Sequence[Button]) -> str:
    """The customer's text as the flow's answer: a menu takes the option's key or its
    label; digits may be typed with spaces or dashes; a finish key at the end is dropped."""
    text = given.text.strip()
    if ask.complete_on:
        if text in ask.complete_on:
            return text
        lowered = text.lower().rstrip(".")
        for button in buttons:
            label = button.label.split(". ", 1)[-1].lower()
            if lowered in (label, button.label.lower()):
                return button.value
        return text[:64]
    if ask.finish_key and text.endswith(ask.finish_key):
        text = text[: -len(ask.finish_key)]
    compact = _SEPARATORS.sub("", text)
    if compact and re.fullmatch(r"\+?[0-9*#]+", compact):
        return compact
    return text[:200]


@dataclass
class TextPort:
    """A FlowPort over one chat."""

    conversation: Conversation
    catalogue: Catalogue | None
    reminder_after: float = 120.0
    close_after: float = 60.0
    channel: Channel = "chat"
    said: list[str] = field(default_factory=list)
    #: Where the files flows send are stored (None: files are not enabled for chats).
    attachments: Attachments | None = None

    async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
        plain = [prompt for prompt in prompts if prompt.rich is None and prompt.file is None]
        text = render(self.catalogue, plain, language)
        if text:
            self.said.append(text)
            await self.conversation.say(text)
        for prompt in prompts:
            if prompt.file is not None:
                await self.send_file(prompt.file)
            if prompt.rich is not None:  # a card (or link, image) as itself
                said = fallback_text(prompt.rich)
                self.said.append(said)
                await self.conversation.say(
                    said,
                    buttons=[Button(**b) for b in choices(prompt.rich)],
                    rich=dump(prompt.rich),
                )

    async def send_file(self, path: Path) -> None:
        """A flow's file, stored as the chat's attachment exactly as an agent's file is
        (checked against the chat's limits, stored before delivery), then sent."""
        attachments = self.attachments
        if attachments is None:
            raise FileNotSent(f"flow file {path.name}: files are not enabled for chats")
        try:
            if (await asyncio.to_thread(path.stat)).st_size > attachments.max_bytes:
                raise AttachmentRefused(
                    "too_large", f"the file is over the limit of {attachments.max_bytes} bytes"
                )
            body = await asyncio.to_thread(path.read_bytes)
            kind = type_of(path.name)
            saved = await attachments.save(self.conversation.id, path.name, kind, body, shared=True)
        except OSError as error:
            raise FileNotSent(f"flow file {path.name}: {error.strerror or error}") from None
        except AttachmentRefused as error:
            raise FileNotSent(f"flow file {path.name}: {error}") from None
        info = {
            "id": saved.id,
            "filename": saved.filename,
            "content_type": saved.content_type,
            "size": saved.size,
        }
        self.said.append(saved.filename)
        await self.conversation.say(saved.filename, attachment=info)

    async def ask(self, ask: Ask, *, language: str) -> Answer:
        # 0 after 1-9, as on a keypad: "0. None of these" / "0. Back" comes last.
        keys = sorted(ask.complete_on, key=lambda k: (len(k), k == "0", k))
        buttons = (
            buttons_for(self.catalogue, ask.prompts, keys, language, ask.labels) if keys else []
        )
        for prompt in ask.prompts:  # a file before the question, which comes last
            if prompt.file is not None:
                await self.send_file(prompt.file)
        text = render(self.catalogue, ask.prompts, language)
        if text or buttons:
            self.said.append(text)
            await self.conversation.say(
                text, buttons=buttons, expects="choice" if keys else "text", sensitive=ask.sensitive
            )
        given = await self.wait(language)
        # `text` keeps the whole message: a free question or a menu's intent.
        return Answer(answer_text(ask, given, buttons), via="text", text=given.text)

    async def wait(self, language: str) -> Input:
        """The customer's next message; a reminder, then CallerGone, if none comes."""
        given = await self.conversation.next_input(self.reminder_after)
        if given is None:
            await self.conversation.say(prompt_text(self.catalogue, REMINDER, language))
            given = await self.conversation.next_input(self.close_after)
        if given is None:
            await self.conversation.say(
                prompt_text(self.catalogue, INACTIVE_CLOSED, language), closing="inactivity"
            )
            raise CallerGone
        return given

    async def record(
        self, *, max_seconds: float, beep: bool, silence_seconds: float, language: str
    ) -> Recording:
        """A written message stands in for the voicemail; its message number is its name."""
        await self.conversation.say(prompt_text(self.catalogue, TYPE_MESSAGE, language))
        given = await self.wait(language)
        if not given.text.strip():
            return Recording("empty")
        return Recording("recorded", f"chat-message-{given.seq}", 0.0)

    async def transfer(self, target: str, *, timeout: float) -> TransferOutcome:
        return "failed"

    async def hangup(self) -> None:
        await self.conversation.end()
