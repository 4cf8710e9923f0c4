"""Asking a caller for the number to call back: the caller's own number read back for
confirmation, or one typed on the keypad (and read back). Channel-neutral: it talks
through a flow port, so the queue's callback key and the `callback` flow node share it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hotline.flows.port import Ask, FlowPort, Prompt

#: (number) -> the number as it will be dialed, or (None, reason, prompt) refused.
Check = Callable[[str], "Checked"]

#: Keys of the read-back question.
CONFIRM, OTHER = "1", "2"


@dataclass(frozen=True)
class Checked:
    number: str | None
    reason: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class NumberAnswer:
    """`confirmed` with the number, or `invalid` (what was typed was refused, or the
    caller never confirmed), with the last refusal's reason if there was one."""

    outcome: Literal["confirmed", "invalid"]
    number: str | None = None
    reason: str | None = None


async def ask_number(
    port: FlowPort,
    language: str,
    default: str | None,
    check: Check,
    *,
    tries: int = 3,
    max_digits: int = 20,
) -> NumberAnswer:
    """Up to `tries` rounds of: (type a number unless the default is good) then read
    it back, 1 to confirm, 2 for another. CallerGone passes through (nothing booked)."""
    number: str | None = None
    reason: str | None = None
    if default:
        first = check(default)
        number = first.number
        if number is None and first.prompt:
            # Say why the caller's own number will not do before asking for another.
            reason = first.reason
            await port.play([Prompt(key=first.prompt)], language=language, barge_in=True)
    for _round in range(tries):
        if number is None:
            answer = await port.ask(
                Ask(
                    prompts=[Prompt(key="callback_enter_number")],
                    max_digits=max_digits,
                    timeout=10,
                    inter_digit_timeout=4,
                    finish_key="#",
                ),
                language=language,
            )
            if not answer.digits:
                continue
            checked = check(answer.digits)
            if checked.number is None:
                reason = checked.reason
                if checked.prompt:
                    await port.play([Prompt(key=checked.prompt)], language=language, barge_in=True)
                continue
            number = checked.number
        answer = await port.ask(
            Ask(
                prompts=[
                    Prompt(key="callback_number_is"),
                    Prompt(say="digits", value=number),
                    Prompt(key="callback_confirm"),
                ],
                timeout=6,
                complete_on=frozenset({CONFIRM, OTHER}),
            ),
            language=language,
        )
        if answer.digits == CONFIRM:
            return NumberAnswer("confirmed", number)
        number = None
    return NumberAnswer("invalid", None, reason)
