"""The bytes of chat attachments kept in the database, once per content, so that every
process sharing the database (several web processes, call workers) serves every file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.coltypes import UTCDateTime
from hotline.store.models import Base


class AttachmentBlobRow(Base):
    """One file's bytes, named by their SHA-256 (the same file sent twice is kept once);
    `chat_attachments` rows point at it with `path` = `db:<sha256>`."""

    __tablename__ = "attachment_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column()
    body: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
