"""Log lines that name their contact: one context variable, set where a contact's
session runs, and a logging filter that puts it on every record.

    bind_contact(contact_id)        # in the task serving the call (or chat)
    log.info("...")                 # -> "... contact=<id>: ..." on every line,
                                    #    in that task and the tasks it starts

`install()` puts the filter and a format with the contact on the root handlers:
plain text by default, one JSON object per line with HOTLINE_LOG_FORMAT=json.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

CONTACT: ContextVar[str | None] = ContextVar("hotline_contact", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s contact=%(contact)s: %(message)s"


def bind_contact(contact_id: str | None) -> None:
    """Name `contact_id` on every log line of the current task (and its new tasks)."""
    CONTACT.set(contact_id)


def current_contact() -> str | None:
    return CONTACT.get()


class ContactFilter(logging.Filter):
    """Adds `record.contact`: the bound contact id, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "contact"):
            record.contact = CONTACT.get() or "-"
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: ts, level, logger, contact, message (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        contact = getattr(record, "contact", "-")
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "contact": None if contact == "-" else contact,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def install(json_lines: bool | None = None) -> None:
    """Add the contact to every root handler's records and format."""
    if json_lines is None:
        json_lines = os.environ.get("HOTLINE_LOG_FORMAT", "").lower() == "json"
    formatter: logging.Formatter = (
        JsonLines() if json_lines else logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S")
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ContactFilter) for f in handler.filters):
            handler.addFilter(ContactFilter())
        handler.setFormatter(formatter)
