"""Collecting a caller's keys into an answer, over any voice runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hotline.flows.port import Answer, Ask


async def gather(
    ask: Ask, typeahead: list[str], next_key: Callable[[float], Awaitable[str | None]]
) -> Answer:
    """Collect an answer key by key, as `Ask` describes: keys typed ahead first, then
    `next_key(seconds)` (None when no key came in time)."""
    digits = ""
    while True:
        key = typeahead.pop(0) if typeahead else None
        if key is None:
            key = await next_key(ask.inter_digit_timeout if digits else ask.timeout)
            if key is None:
                return Answer(digits=digits, timed_out=not digits)
        if ask.finish_key and key == ask.finish_key:
            return Answer(digits=digits)
        digits += key
        if len(digits) >= ask.max_digits or digits in ask.complete_on:
            return Answer(digits=digits)
