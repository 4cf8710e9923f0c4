"""Rich chat messages: links, images, files, cards and locations, checked once here and
rendered per channel by the adapters (the widget, the desk, the messengers).

    message = parse_rich({"type": "card", "title": "Roaming", "text": "...",
                          "buttons": [{"label": "Read more", "url": "https://..."}]})
    text = fallback_text(message)   # what a channel without cards shows
    data = {"rich": dump(message)}  # stored with the chat message, then delivered

Everything is plain text: markup in a title or text is kept as typed and escaped by
whoever shows it. Web addresses are absolute http or https only (no javascript:, data:
or relative ones), so a link or image can never run code where it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

#: Longest web address, title, text and button label (characters).
MAX_URL = 2000
MAX_TITLE = 200
MAX_TEXT = 4000
MAX_LABEL = 64
#: Most buttons on one card (Telegram shows up to 100, people read a few).
MAX_BUTTONS = 8
#: Largest file an agent or a flow sends, unless the chat's own limit is lower.
MAX_FILE_BYTES = 10 * 1024 * 1024
URL_SCHEMES = ("http", "https")


class RichMessageError(ValueError):
    """A rich message refused: the message says which field and why."""


def _check_url(value: str) -> str:
    if any(ord(c) < 32 or c.isspace() for c in value):
        raise ValueError("a web address has no spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in URL_SCHEMES:
        shown = parts.scheme or "none"
        raise ValueError(f"only http and https addresses are sent (scheme {shown!r})")
    if not parts.hostname:
        raise ValueError("a web address needs a host")
    if parts.username or parts.password:
        raise ValueError("a web address with a user name or password is not sent")
    return value


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text has no NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


Url = Annotated[str, Field(min_length=1, max_length=MAX_URL), AfterValidator(_check_url)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE), AfterValidator(_check_text)]
Body = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_check_text)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL), AfterValidator(_check_text)]


class _Rich(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Button(_Rich):
    """A card's button: opens `url`, or answers the flow with `value` (like a menu key)."""

    label: Label
    url: Url | None = None
    value: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Button:
        if (self.url is None) == (self.value is None):
            raise ValueError("a button has either a url or a value")
        return self


class Link(_Rich):
    type: Literal["link"]
    url: Url
    title: Title | None = None


class Image(_Rich):
    type: Literal["image"]
    url: Url
    caption: Body = ""


class File(_Rich):
    """A file stored with the chat (chat_bridge/attachments.py): its id, not its bytes."""

    type: Literal["file"]
    attachment: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]
    filename: Title
    content_type: Annotated[str, Field(min_length=3, max_length=100)]
    size: Annotated[int, Field(ge=1, le=MAX_FILE_BYTES)]


class Card(_Rich):
    type: Literal["card"]
    title: Title
    text: Body = ""
    image: Url | None = None
    buttons: Annotated[list[Button], Field(max_length=MAX_BUTTONS)] = []


class Location(_Rich):
    type: Literal["location"]
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    title: Title | None = None

    @model_validator(mode="after")
    def _finite(self) -> Location:
        if not (math.isfinite(self.latitude) and math.isfinite(self.longitude)):
            raise ValueError("latitude and longitude are numbers")
        return self


RichMessage = Annotated[Link | Image | File | Card | Location, Field(discriminator="type")]
TYPES = ("link", "image", "file", "card", "location")
_ADAPTER: TypeAdapter[Link | Image | File | Card | Location] = TypeAdapter(RichMessage)


def parse_rich(data: Any) -> Link | Image | File | Card | Location:
    """`data` as a checked rich message; RichMessageError names the field and the fault."""
    if not isinstance(data, dict):
        raise RichMessageError("a rich message is a JSON object with a `type`")
    kind = data.get("type")
    if kind not in TYPES:
        raise RichMessageError(f"unknown rich message type {kind!r}; one of {', '.join(TYPES)}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"][1:]) or kind
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise RichMessageError(f"{kind}: {where}: {message}") from None


def dump(message: Link | Image | File | Card | Location) -> dict[str, Any]:
    """The message as stored in a chat message's data["rich"] (no empty fields)."""
    return message.model_dump(exclude_none=True)


def fallback_text(message: Link | Image | File | Card | Location) -> str:
    """The message as plain text, for the store's text column and text-only channels."""
    if isinstance(message, Link):
        return f"{message.title}: {message.url}" if message.title else message.url
    if isinstance(message, Image):
        return f"{message.caption}\n{message.url}" if message.caption else message.url
    if isinstance(message, File):
        return message.filename
    if isinstance(message, Location):
        where = f"{message.latitude:.6f}, {message.longitude:.6f}"
        return f"{message.title} ({where})" if message.title else where
    lines = [message.title]
    if message.text:
        lines.append(message.text)
    for button in message.buttons:
        if button.url is not None:
            lines.append(f"{button.label}: {button.url}")
    choices = [b for b in message.buttons if b.value is not None]
    if choices:
        lines.append(" | ".join(f"{b.value}. {b.label}" for b in choices))
    return "\n".join(lines)


def article_card(title: str, text: str, links: Sequence[tuple[str, str]] = ()) -> Card | None:
    """A knowledge article's answer as a card: a button per (label, web address);
    None if the article cannot be one (a link that is not http/https...)."""
    buttons = [{"label": label[:MAX_LABEL], "url": url} for label, url in links][:MAX_BUTTONS]
    data = {"type": "card", "title": title[:MAX_TITLE], "text": text[:MAX_TEXT]}
    try:
        card = parse_rich({**data, "buttons": buttons})
    except RichMessageError:
        return None
    return card if isinstance(card, Card) else None


def choices(message: Link | Image | File | Card | Location) -> list[dict[str, str]]:
    """A card's answering buttons as the chat's `buttons` ({value, label}): channels that
    know only menus still offer them."""
    if not isinstance(message, Card):
        return []
    return [{"value": b.value, "label": b.label} for b in message.buttons if b.value is not None]
