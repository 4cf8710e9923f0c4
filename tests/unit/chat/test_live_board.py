"""The live board: one task refreshes every waiting chat's live frame."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from chat_bridge.waiting import LiveBoard


@dataclass(eq=False)
class Chat:
    id: str


def FakeChat(chat_id: str) -> Any:
    """A stand-in for LiveChat: the board only uses its id."""
    return Chat(chat_id)


async def test_chats_are_refreshed_at_once_then_every_period_until_removed() -> None:
    seen: list[str] = []
    board = LiveBoard(lambda chat, queue: seen.append(f"{chat.id}@{queue}"), every=0.02)
    a, b = FakeChat("a"), FakeChat("b")
    board.add(a, "sales")
    board.add(b, "support")
    assert seen == ["a@sales", "b@support"]
    await asyncio.sleep(0.05)
    assert seen.count("a@sales") >= 2 and seen.count("b@support") >= 2
    board.remove(a)
    seen.clear()
    await asyncio.sleep(0.05)
    assert "a@sales" not in seen and "b@support" in seen
    board.remove(b)
    await asyncio.sleep(0.05)  # nothing left: the board's task ends
    assert board._task is not None and board._task.done()


async def test_a_chat_replaced_under_its_id_is_not_removed_by_the_old_one() -> None:
    board = LiveBoard(lambda chat, queue: None, every=10)
    old, new = FakeChat("x"), FakeChat("x")
    board.add(old, "q")
    board.add(new, "q")
    board.remove(old)
    assert board.chats["x"][0] is new
    board.remove(new)
    assert board.chats == {}


async def test_one_failing_chat_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def refresh(chat: Any, queue: str) -> None:
        if chat.id == "bad" and "bad" in seen:  # fails from its second refresh on
            raise RuntimeError("boom")
        seen.append(chat.id)

    board = LiveBoard(refresh, every=0.02, per_step=1)
    board.add(FakeChat("good"), "q")
    board.add(FakeChat("bad"), "q")
    await asyncio.sleep(0.07)
    assert seen.count("good") >= 3
    assert "chat bad: live frame failed" in caplog.text
    for chat_id in ("good", "bad"):
        board.remove(board.chats[chat_id][0])
