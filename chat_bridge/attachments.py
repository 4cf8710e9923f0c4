"""Files sent in chats: size and type limits, the type checked against the bytes
themselves, stored under the state folder with their metadata in the database."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hotline.store.chats import ChatAttachment, ChatStore

#: What a file of each type starts with.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class AttachmentRefused(ValueError):
    """The file is not taken; `code` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def safe_filename(name: str) -> str:
    """A file name fit to show and to send back: no path, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:100]
    return cleaned or "file"


def check_type(content_type: str, body: bytes, allowed: Sequence[str]) -> str:
    """The declared type if it is allowed and the bytes are of that type."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in allowed:
        raise AttachmentRefused(
            "type_not_allowed",
            f"files of type {declared or 'unknown'!r} are not accepted; "
            f"allowed: {', '.join(allowed)}",
        )
    magic = MAGIC.get(declared)
    if magic is not None and not body.startswith(magic):
        raise AttachmentRefused("type_mismatch", f"the file is not really {declared}")
    if declared == "text/plain":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise AttachmentRefused("type_mismatch", "a text file must be UTF-8") from None
        if "\x00" in text:
            raise AttachmentRefused("type_mismatch", "a text file has no NUL bytes")
    return declared


@dataclass
class Attachments:
    """Where attachments live and what is accepted."""

    root: Path
    chats: ChatStore
    max_bytes: int
    types: Sequence[str]

    async def save(
        self, session_id: str, filename: str, content_type: str, body: bytes
    ) -> ChatAttachment:
        if not body:
            raise AttachmentRefused("empty", "the file is empty")
        if len(body) > self.max_bytes:
            raise AttachmentRefused(
                "too_large", f"the file is over the limit of {self.max_bytes} bytes"
            )
        kind = check_type(content_type, body, self.types)
        attachment_id = str(uuid.uuid4())
        relative = Path(session_id) / attachment_id
        path = self.root / relative
        await asyncio.to_thread(_write, path, body)
        return await self.chats.add_attachment(
            session_id,
            attachment_id=attachment_id,
            filename=safe_filename(filename),
            content_type=kind,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            path=str(relative),
        )

    def path_of(self, attachment: ChatAttachment) -> Path:
        path = (self.root / attachment.path).resolve()
        if self.root.resolve() not in path.parents:
            raise AttachmentRefused("not_found", "no such attachment")
        return path


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(body)
    tmp.replace(path)


def file_response(attachments: Attachments, found: ChatAttachment) -> web.StreamResponse:
    """An attachment as a download: its checked type, never sniffed, never inline HTML."""
    try:
        path = attachments.path_of(found)
    except AttachmentRefused:
        raise web.HTTPNotFound() from None
    response = web.FileResponse(path)
    response.content_type = found.content_type
    inline = found.content_type.startswith("image/")
    response.headers["Content-Disposition"] = (
        f'{"inline" if inline else "attachment"}; filename="{found.filename}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
