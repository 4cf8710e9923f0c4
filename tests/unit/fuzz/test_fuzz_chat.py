"""Fuzzing the chat widget's WebSocket protocol (chat_bridge/protocol.py): any frame is
a message model or a ProtocolError with a code and a readable message; nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_bridge.protocol import MAX_FRAME, ProtocolError, dumps, parse
from tests.unit.fuzz.mutations import FUZZ, mutated

CODES = {"too_large", "bad_json", "bad_message", "bad_version"}
SEEDS = [
    {"v": 1, "type": "hello", "session": None, "last_seq": 0, "visitor": "abcdefgh12"},
    {"type": "message", "id": "c1", "text": "hello"},
    {"type": "choice", "id": "c2", "value": "1"},
    {"type": "attachment", "id": "c3", "attachment": "a" * 36},
    {"type": "typing", "on": True},
    {"type": "close"},
    {"type": "reopen"},
    {"type": "ping"},
]


def check(raw: str | bytes) -> None:
    try:
        parse(raw)
    except ProtocolError as error:
        assert error.code in CODES
        assert str(error).strip()
        assert error.frame()["type"] == "error"


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_frame(raw: str | bytes) -> None:
    check(raw)


@FUZZ
@given(mutated(SEEDS))
def test_near_valid_frames(frame: object) -> None:
    check(dumps(frame) if isinstance(frame, dict) else json.dumps(frame, default=str))


def test_the_seeds_parse() -> None:
    for seed in SEEDS:
        parse(dumps(seed))


def test_an_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError, match=f"over the limit of {MAX_FRAME} bytes"):
        parse("[" * (MAX_FRAME + 1))


def test_json_nested_too_deep_is_a_protocol_error() -> None:
    check("[" * 5000)
