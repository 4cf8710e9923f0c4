"""Files sent in chats: size and type limits, the type checked against the bytes
themselves, stored under the state folder with their metadata in the database; on a
database shared by several processes (PostgreSQL), the bytes in the database too
(`hotline/store/blobs.py`), so every process serves every file."""

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
from hotline.store.blobs import BlobStore
from hotline.store.chats import ChatAttachment, ChatStore

__all__ = [
    "MAGIC",
    "AttachmentRefused",
    "Attachments",
    "KeptFile",
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
#: An attachment's `path` when its bytes are in the database: `db:<sha256>`.
IN_DATABASE = "db:"


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
    #: Where the bytes go when set (PostgreSQL: every process reads them); else the folder.
    blobs: BlobStore | None = None

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
        if self.blobs is not None:
            await self.blobs.put(digest, body)
            where = IN_DATABASE + digest
        else:
            relative = Path(SHARED) / digest if shared else Path(session_id) / attachment_id
            path = self.root / relative
            if not shared or not await asyncio.to_thread(_holds, path, len(body)):
                await asyncio.to_thread(_write, path, body)
            where = str(relative)
        return await self.chats.add_attachment(
            session_id,
            attachment_id=attachment_id,
            filename=safe_filename(filename),
            content_type=kind,
            size=len(body),
            sha256=digest,
            path=where,
        )

    async def keep(self, filename: str, content_type: str, body: bytes) -> KeptFile:
        """Check a file and keep its bytes in the database, for no chat yet: a desk's
        upload on one process for a chat another process runs (which then `attach`es it
        to the chat, after checking the agent has the chat), so the bytes never cross
        the bus."""
        if self.blobs is None:
            raise AttachmentRefused("not_shared", "files are kept by this process only")
        kind = check_file(body, content_type, self.max_bytes, self.types)
        digest = hashlib.sha256(body).hexdigest()
        await self.blobs.put(digest, body)
        return KeptFile(safe_filename(filename), kind, len(body), digest)

    async def attach(self, session_id: str, kept: KeptFile) -> ChatAttachment:
        """A file `keep` stored, as the chat's attachment (refused if its bytes are not
        in the database as described: the request came from elsewhere)."""
        if self.blobs is None:
            raise AttachmentRefused("not_shared", "files are kept by this process only")
        if not re.fullmatch(r"[0-9a-f]{64}", kept.sha256):
            raise AttachmentRefused("not_found", "no such file")
        if await self.blobs.size(kept.sha256) != kept.size:
            raise AttachmentRefused("not_found", "no such file")
        if kept.content_type not in self.types:
            # `keep` checked the bytes against the type; this is the same config's list.
            raise AttachmentRefused("type_not_allowed", "files of this type are not accepted")
        return await self.chats.add_attachment(
            session_id,
            filename=safe_filename(kept.filename),
            content_type=kept.content_type,
            size=kept.size,
            sha256=kept.sha256,
            path=IN_DATABASE + kept.sha256,
        )

    async def body(self, attachment: ChatAttachment) -> bytes:
        """The attachment's bytes, from the database or the folder (AttachmentRefused
        `not_found` if they are not there)."""
        if attachment.path.startswith(IN_DATABASE):
            if self.blobs is None:
                raise AttachmentRefused("not_found", "no such attachment")
            found = await self.blobs.get(attachment.path[len(IN_DATABASE) :])
            if found is None:
                raise AttachmentRefused("not_found", "no such attachment")
            return found
        path = self.path_of(attachment)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:
            raise AttachmentRefused("not_found", "no such attachment") from None

    def path_of(self, attachment: ChatAttachment) -> Path:
        if attachment.path.startswith(IN_DATABASE):
            raise AttachmentRefused("not_found", "this attachment is in the database")
        path = (self.root / attachment.path).resolve()
        if self.root.resolve() not in path.parents:
            raise AttachmentRefused("not_found", "no such attachment")
        return path


@dataclass(frozen=True)
class KeptFile:
    """A checked file whose bytes are in the database, not yet any chat's."""

    filename: str
    content_type: str
    size: int
    sha256: str


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


async def file_response(attachments: Attachments, found: ChatAttachment) -> web.StreamResponse:
    """An attachment as a download: its checked type, never sniffed, never inline HTML."""
    response: web.StreamResponse
    try:
        if found.path.startswith(IN_DATABASE):
            response = web.Response(body=await attachments.body(found))
        else:
            response = web.FileResponse(attachments.path_of(found))
    except AttachmentRefused:
        raise web.HTTPNotFound() from None
    response.content_type = found.content_type
    inline = found.content_type.startswith("image/")
    response.headers["Content-Disposition"] = (
        f'{"inline" if inline else "attachment"}; filename="{found.filename}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
