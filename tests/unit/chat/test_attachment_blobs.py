"""Attachments whose bytes are in the database (`hotline/store/blobs.py`): what every
process sharing a PostgreSQL reads. On SQLite and on the private PostgreSQL (the unit
tests' `store` fixture)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chat_bridge.attachments import (
    AttachmentRefused,
    Attachments,
    KeptFile,
    file_response,
)
from hotline.store import Store
from hotline.store.blobs import BLOBS, BlobStore
from hotline.store.chats import ATTACHMENTS, ChatStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TYPES = ["image/png", "text/plain"]


def attachments(store: Store, folder: Path, *, shared: bool = True) -> Attachments:
    chats = ChatStore(store)
    return Attachments(folder, chats, 1000, TYPES, BlobStore(store) if shared else None)


async def count(store: Store, table: object) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]

    async def op(conn: AsyncConnection) -> int:
        return int((await conn.execute(query)).scalar_one())

    return await store.read(op, "count")


async def test_a_saved_file_is_in_the_database_not_the_folder(store: Store, tmp_path: Path) -> None:
    files = attachments(store, tmp_path / "files")
    session = await files.chats.create_session("web")
    saved = await files.save(session.id, "../photo.png", "image/png", PNG)
    assert saved.path == "db:" + hashlib.sha256(PNG).hexdigest()
    assert saved.filename == "photo.png"
    assert not (tmp_path / "files").exists()
    # Another process: its own Attachments over the same database reads the bytes.
    other = attachments(store, tmp_path / "elsewhere")
    found = await other.chats.attachment(saved.id)
    assert found is not None and await other.body(found) == PNG
    response = await file_response(other, found)
    assert response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_same_bytes_are_kept_once(store: Store, tmp_path: Path) -> None:
    files = attachments(store, tmp_path)
    session = await files.chats.create_session("web")
    first = await files.save(session.id, "a.png", "image/png", PNG)
    second = await files.save(session.id, "b.png", "image/png", PNG, shared=True)
    assert first.id != second.id and first.path == second.path
    assert await count(store, BLOBS) == 1
    assert await count(store, ATTACHMENTS) == 2


async def test_kept_then_attached_as_another_process_would(store: Store, tmp_path: Path) -> None:
    desk_side = attachments(store, tmp_path / "b")
    chat_side = attachments(store, tmp_path / "a")
    session = await chat_side.chats.create_session("web")
    kept = await desk_side.keep("report.txt", "text/plain; charset=utf-8", b"hello")
    assert kept == KeptFile("report.txt", "text/plain", 5, hashlib.sha256(b"hello").hexdigest())
    assert await count(store, ATTACHMENTS) == 0  # kept for no chat yet
    saved = await chat_side.attach(session.id, kept)
    assert saved.session_id == session.id and await chat_side.body(saved) == b"hello"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"size": 6}, "no such file"),
        ({"sha256": "0" * 64}, "no such file"),
        ({"sha256": "../../etc/passwd"}, "no such file"),
        ({"content_type": "application/x-msdownload"}, "not accepted"),
    ],
)
async def test_an_attach_not_matching_what_was_kept_is_refused(
    store: Store, tmp_path: Path, change: dict[str, object], words: str
) -> None:
    files = attachments(store, tmp_path)
    session = await files.chats.create_session("web")
    kept = await files.keep("report.txt", "text/plain", b"hello")
    with pytest.raises(AttachmentRefused) as refused:
        await files.attach(session.id, replace(kept, **change))  # type: ignore[arg-type]
    assert words in str(refused.value)
    assert await count(store, ATTACHMENTS) == 0


async def test_a_refused_file_keeps_nothing(store: Store, tmp_path: Path) -> None:
    files = attachments(store, tmp_path)
    with pytest.raises(AttachmentRefused, match="over the limit of 1000 bytes"):
        await files.keep("big.txt", "text/plain", b"x" * 1001)
    with pytest.raises(AttachmentRefused, match="not really image/png"):
        await files.keep("fake.png", "image/png", b"MZ not a png")
    assert await count(store, BLOBS) == 0


async def test_without_the_database_store_files_stay_in_the_folder(
    store: Store, tmp_path: Path
) -> None:
    files = attachments(store, tmp_path / "files", shared=False)
    session = await files.chats.create_session("web")
    saved = await files.save(session.id, "a.png", "image/png", PNG)
    assert (tmp_path / "files" / saved.path).read_bytes() == PNG
    assert await files.body(saved) == PNG
    with pytest.raises(AttachmentRefused, match="kept by this process only"):
        await files.keep("a.png", "image/png", PNG)
    kept = KeptFile("a.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest())
    with pytest.raises(AttachmentRefused, match="kept by this process only"):
        await files.attach(session.id, kept)
    assert await count(store, BLOBS) == 0


async def test_a_row_whose_bytes_are_gone_is_not_found(store: Store, tmp_path: Path) -> None:
    files = attachments(store, tmp_path)
    session = await files.chats.create_session("web")
    saved = await files.chats.add_attachment(
        session.id,
        filename="a.png",
        content_type="image/png",
        size=3,
        sha256="f" * 64,
        path="db:" + "f" * 64,
    )
    with pytest.raises(AttachmentRefused, match="no such attachment"):
        await files.body(saved)
