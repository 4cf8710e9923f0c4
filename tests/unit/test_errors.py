"""An exception in words: its message, or its type when the message is empty."""

from __future__ import annotations

from hotline.errors import error_text


def test_an_error_with_a_message_is_its_message() -> None:
    assert error_text(OSError("connection refused")) == "connection refused"


def test_an_error_without_a_message_is_its_type() -> None:
    # An exception is truthy even when its message is empty: `error or name` said "".
    assert error_text(TimeoutError()) == "TimeoutError"
    assert error_text(RuntimeError("")) == "RuntimeError"
