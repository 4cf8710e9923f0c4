"""The widget's WebSocket protocol: JSON objects with a `type`, version 1.

Client to server::

    {"v": 1, "type": "hello", "session": TOKEN|null, "last_seq": 0,
     "visitor": "cookie id"|null, "language": "en"|null,
     "entry": "sales"|null}                                   first frame, always
    {"type": "message", "id": "client id", "text": "..."}     a typed message
    {"type": "choice", "id": "client id", "value": "1"}       a button pressed
    {"type": "attachment", "id": "client id", "attachment": "uploaded id"}
    {"type": "typing", "on": true}
    {"type": "close"}    the customer ends the chat      {"type": "reopen"}
    {"type": "ping"}

Server to client: `welcome` {session, session_id, state, last_seq}, `message`
(a stored message: seq, from, kind, text, data with buttons), `ack` {id, seq} once a
customer message is stored, `typing` {from, on}, `queue` {position, eta, minutes}, `state`
{state}, `error` {code, message}, `pong`.

Frames larger than `MAX_FRAME` bytes, frames that are not JSON objects and unknown
types get an `error` frame with a code and a readable message; nothing is stored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
#: Largest frame accepted (bytes of JSON).
MAX_FRAME = 16 * 1024
#: Longest text of one message (characters).
MAX_TEXT = 4000

VisitorId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1


class Hello(_Msg):
    type: Literal["hello"]
    session: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    last_seq: Annotated[int, Field(ge=0)] = 0
    visitor: (
        Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None
    ) = None
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] | None = None
    #: Which entry point (flow) a new chat starts at; chat.entries in the config.
    entry: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None


class Text(_Msg):
    type: Literal["message"]
    id: ClientId
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class Choice(_Msg):
    type: Literal["choice"]
    id: ClientId
    value: Annotated[str, Field(min_length=1, max_length=64)]


class AttachmentRef(_Msg):
    type: Literal["attachment"]
    id: ClientId
    attachment: Annotated[str, Field(min_length=1, max_length=36)]


class SharedLocation(_Msg):
    """Where the customer is, from the browser's geolocation (shared on their click)."""

    type: Literal["location"]
    id: ClientId
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Typing(_Msg):
    type: Literal["typing"]
    on: bool = True


class Close(_Msg):
    type: Literal["close"]


class Reopen(_Msg):
    type: Literal["reopen"]


class Ping(_Msg):
    type: Literal["ping"]


ClientMessage = Annotated[
    Hello | Text | Choice | AttachmentRef | SharedLocation | Typing | Close | Reopen | Ping,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
TYPES = (
    "hello",
    "message",
    "choice",
    "attachment",
    "location",
    "typing",
    "close",
    "reopen",
    "ping",
)


class ProtocolError(Exception):
    """A frame we refuse: `code` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, str(self))


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"v": VERSION, "type": "error", "code": code, "message": message}


def parse(raw: str | bytes) -> Any:
    """One client frame as its message model; ProtocolError says what is wrong."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME:
        raise ProtocolError(
            "too_large", f"frame of {size} bytes is over the limit of {MAX_FRAME} bytes"
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError("bad_json", f"not JSON: {error}") from None
    except RecursionError:
        raise ProtocolError("bad_json", "not JSON we take: nested too deep") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "a frame must be a JSON object with a `type`")
    kind = data.get("type")
    if kind not in TYPES:
        raise ProtocolError(
            "bad_message", f"unknown type {kind!r}; expected one of {', '.join(TYPES)}"
        )
    if data.get("v", VERSION) != VERSION:
        raise ProtocolError("bad_version", f"protocol version {data.get('v')!r} is not {VERSION}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"][1:]) or kind
        raise ProtocolError("bad_message", f"{kind}: {where}: {problem['msg']}") from None


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), default=str)
