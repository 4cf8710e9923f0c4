"""The widget protocol: what is accepted, and the error each bad frame gets."""

from __future__ import annotations

import json

import pytest

from chat_bridge.protocol import (
    MAX_FRAME,
    MAX_TEXT,
    Choice,
    Hello,
    ProtocolError,
    Text,
    Typing,
    parse,
)


def test_good_frames() -> None:
    hello = parse('{"v": 1, "type": "hello", "session": null, "visitor": "abcdefgh12"}')
    assert isinstance(hello, Hello) and hello.last_seq == 0 and hello.visitor == "abcdefgh12"
    text = parse(json.dumps({"type": "message", "id": "m-1", "text": "héllo <b>"}))
    assert isinstance(text, Text) and text.text == "héllo <b>"
    assert isinstance(parse('{"type": "choice", "id": "c1", "value": "2"}'), Choice)
    assert parse(b'{"type": "typing", "on": false}') == Typing(type="typing", on=False)


@pytest.mark.parametrize(
    ("raw", "code", "says"),
    [
        ("{nope", "bad_json", "not JSON"),
        (b"\xff\xfe", "bad_json", "not JSON"),
        ("[]", "bad_message", "JSON object"),
        ('"hello"', "bad_message", "JSON object"),
        ('{"text": "no type"}', "bad_message", "unknown type None"),
        ('{"type": "exec"}', "bad_message", "unknown type 'exec'"),
        ('{"v": 2, "type": "ping"}', "bad_version", "version 2"),
        ('{"type": "message", "id": "m1"}', "bad_message", "message: text: Field required"),
        ('{"type": "message", "id": "m1", "text": ""}', "bad_message", "text"),
        ('{"type": "message", "id": "has space", "text": "x"}', "bad_message", "id"),
        ('{"type": "message", "id": "m", "text": "x", "admin": true}', "bad_message", "admin"),
        ('{"type": "hello", "visitor": "short"}', "bad_message", "visitor"),
        ('{"type": "hello", "last_seq": -1}', "bad_message", "last_seq"),
        ('{"type": "hello", "entry": "../x"}', "bad_message", "entry"),
    ],
)
def test_bad_frames(raw: str | bytes, code: str, says: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse(raw)
    assert refused.value.code == code
    assert says in str(refused.value)
    assert refused.value.frame() == {
        "v": 1,
        "type": "error",
        "code": code,
        "message": str(refused.value),
    }


def test_size_limits() -> None:
    longest = json.dumps({"type": "message", "id": "m", "text": "x" * MAX_TEXT})
    assert isinstance(parse(longest), Text)
    with pytest.raises(ProtocolError, match="text"):
        parse(json.dumps({"type": "message", "id": "m", "text": "x" * (MAX_TEXT + 1)}))
    with pytest.raises(ProtocolError) as refused:
        parse("{" + " " * MAX_FRAME + "}")
    assert refused.value.code == "too_large" and str(MAX_FRAME) in str(refused.value)


def test_json_nested_too_deep() -> None:
    with pytest.raises(ProtocolError) as refused:
        parse("[" * 5000)
    assert refused.value.code == "bad_json" and "nested too deep" in str(refused.value)
