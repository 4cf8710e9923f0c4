"""An exception in words, for a log line or a reason given to a user."""

from __future__ import annotations


def error_text(error: BaseException) -> str:
    """Its message, or its type's name when it has none (a timeout's is empty)."""
    return str(error) or type(error).__name__
