"""The one error reports raise for bad input: the message says what and what to do."""

from __future__ import annotations


class ReportError(ValueError):
    """A report cannot be made as asked (bad period, unknown queue or agent, ...)."""
