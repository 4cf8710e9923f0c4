"""Files sent in chats: size and type limits, the type checked against the bytes
themselves, stored under the state folder with their metadata in the database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from hotline.file_types import MAGIC, AttachmentRefused, check_file, check_type
from hotline.store.chats import ChatAttachment, ChatStore

__all__ = [
    "MAGIC",
    "AttachmentRefused",
    "Attachments",
    "check_type",
    "download_key",
    "download_key_ok",
    "download_url",
    "file_response",
    "safe_filename",
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
#: The folder (under the attachments folder) of files kept once for many chats.
SHARED = "shared"


def safe_filename(name: str) -> str:
    """A file name fit to show and to send back: no path, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:100]
    return cleaned or "file"


@dataclass
class Attachments:
    """Where attachments live and what is accepted."""

    root: Path
    chats: ChatStore
    max_bytes: int
    types: Sequence[str]

    async def save(
        self,
        session_id: str,
        filename: str,
        content_type: str,
        body: bytes,
        *,
        shared: bool = False,
    ) -> ChatAttachment:
        """Check the file and store it as the session's attachment. `shared` (a flow's
        file, the same for every chat that runs the flow) keeps its bytes once, by
        content, under `shared/`; each chat still gets its own attachment row."""
        kind = check_file(body, content_type, self.max_bytes, self.types)
        attachment_id = str(uuid.uuid4())
        digest = hashlib.sha256(body).hexdigest()
        relative = Path(SHARED) / digest if shared else Path(session_id) / attachment_id
        path = self.root / relative
        if not shared or not await asyncio.to_thread(_holds, path, len(body)):
            await asyncio.to_thread(_write, path, body)
        return await self.chats.add_attachment(
            session_id,
            attachment_id=attachment_id,
            filename=safe_filename(filename),
            content_type=kind,
            size=len(body),
            sha256=digest,
            path=str(relative),
        )

    def path_of(self, attachment: ChatAttachment) -> Path:
        path = (self.root / attachment.path).resolve()
        if self.root.resolve() not in path.parents:
            raise AttachmentRefused("not_found", "no such attachment")
        return path


def download_key(secret: str, attachment_id: str) -> str:
    """What opens one attachment's download without the chat's session: the link sent
    to a channel that cannot carry files (HMAC-SHA256 of the id with the channel's
    secret; it opens that file only, never the chat)."""
    message = f"attachment:{attachment_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def download_key_ok(secret: str | None, attachment_id: str, given: str) -> bool:
    if not secret or not given or len(given) > 128:
        return False
    expected = download_key(secret, attachment_id).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "replace"))


def download_url(base: str, secret: str, attachment_id: str) -> str:
    """The attachment's download address with its key (see `download_key`)."""
    key = download_key(secret, attachment_id)
    return f"{base.rstrip('/')}/chat/attachments/{quote(attachment_id)}?key={key}"


def _holds(path: Path, size: int) -> bool:
    """A shared file is already stored whole (its name is its content's hash)."""
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Its own temporary name: two chats may store the same shared file at once.
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
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
