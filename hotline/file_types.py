"""What a file sent in a chat may be: its type allowed and really that type (checked
against its first bytes), within the size limit. Shared by chat uploads, agents' files
(chat_bridge/attachments.py) and the files flows send (checked by the flow linter)."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence

#: What a file of each type starts with.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}

#: File name endings -> types, fixed here so a file's type does not depend on the
#: machine's mime.types.
BY_ENDING: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
}


class AttachmentRefused(ValueError):
    """The file is not taken; `code` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def type_of(name: str) -> str:
    """A file's type from its name ("" when not known)."""
    dot = name.rfind(".")
    ending = name[dot:].lower() if dot >= 0 else ""
    return BY_ENDING.get(ending) or mimetypes.guess_type(name, strict=True)[0] or ""


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


def check_file(body: bytes, content_type: str, max_bytes: int, allowed: Sequence[str]) -> str:
    """The file's checked type; AttachmentRefused if empty, too big or not allowed."""
    if not body:
        raise AttachmentRefused("empty", "the file is empty")
    if len(body) > max_bytes:
        raise AttachmentRefused("too_large", f"the file is over the limit of {max_bytes} bytes")
    return check_type(content_type, body, allowed)
