"""What each node type does: one async function per type, returning the outcome.

Steps talk to the caller through the port and to the rest of Hotline through the
services; they raise on failure (the interpreter routes that to the node's `error`
outcome) and let `CallerGone` through.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hotline.callbacks.dialog import Checked, ask_number
from hotline.flows import model as m
from hotline.flows.expressions import evaluate, render
from hotline.flows.hours import Schedule
from hotline.flows.port import Answer, Ask, FlowPort, Prompt
from hotline.flows.services import (
    CallbackRequest,
    FlowServices,
    HttpRequest,
    HttpTimeout,
    QueueRequest,
    SurveyAnswers,
)
from hotline.knowledge.intents import label_of, match_intent
from hotline.messages import fallback_text
from hotline.speech.turns import SpokenAnswers

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
InputResult = Literal["match", "invalid", "timeout"]
MASK = "***"
#: Asks which option a typed message meant when it fits several (menu intents).
MENU_WHICH = "menu_which"


class FlowFailure(Exception):
    """A node could not do its job (missing schedule, unknown flow, bad answer)."""


@dataclass
class Context:
    """One running flow as a step sees it. `language` is shared with subflows via `state`."""

    flow: m.Flow
    node_id: str
    port: FlowPort
    services: FlowServices
    emit: Emit
    variables: dict[str, Any]
    state: dict[str, Any]  # "language": the contact's current language
    sensitive: set[str] = field(default_factory=set)
    #: Runs a subflow: (flow name, inputs) -> (its return outcome, its variables).
    subflow: Callable[[str, dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]] | None = None
    #: The folder `file:` prompts name their files in (FILES_DIR beside the flow file).
    files: Path = Path(m.FILES_DIR)

    @property
    def language(self) -> str:
        language: str = self.state["language"]
        return language

    def prompts(self, specs: Sequence[m.PromptSpec]) -> list[Prompt]:
        return [
            Prompt(say="text", value=fallback_text(p.card), language=p.language, rich=p.card)
            if p.card is not None
            else Prompt(say="text", value="", language=p.language, file=self.flow_file(p.file))
            if p.file is not None
            else Prompt(
                key=p.key,
                say=p.say,
                value=render(p.value, self.variables) if p.value is not None else None,
                language=p.language,
            )
            for p in specs
        ]

    def flow_file(self, name: str) -> Path:
        """A `file:` prompt's file; never one outside the files folder (a link out)."""
        root = self.files.resolve()
        path = (root / name).resolve()
        if root not in path.parents:
            raise FlowFailure(f"flow file {name!r} is not inside {m.FILES_DIR}/")
        return path

    def render(self, value: Any) -> Any:
        return render(value, self.variables) if isinstance(value, str) else value

    async def set(self, name: str, value: Any, *, sensitive: bool = False) -> None:
        if sensitive:
            self.sensitive.add(name)
        self.variables[name] = value
        shown = MASK if name in self.sensitive and value is not None else value
        await self.emit("flow.variable", {"flow": self.flow.name, "name": name, "value": shown})

    async def ask(self, ask: Ask) -> Answer:
        return await self.port.ask(ask, language=self.language)

    async def input(self, answer: Answer, result: InputResult, *, sensitive: bool = False) -> None:
        digits = MASK if sensitive and answer.digits else answer.digits
        await self.emit(
            "flow.input",
            {"flow": self.flow.name, "node": self.node_id, "digits": digits, "result": result},
        )


Step = Callable[[Context, Any], Awaitable[str]]


async def play(ctx: Context, node: m.PlayNode) -> str:
    await ctx.port.play(ctx.prompts(node.prompts), language=ctx.language, barge_in=node.barge_in)
    return "next"


async def menu(ctx: Context, node: m.MenuNode) -> str:
    failures = timeouts = 0
    feedback: list[m.PromptSpec] = []
    retry = False
    spoken = SpokenAnswers.menu(node.speech)
    while True:
        main = node.short_prompt if retry and node.short_prompt else node.prompt
        answer = await ctx.ask(
            Ask(
                prompts=ctx.prompts([*feedback, *main]),
                max_digits=max(len(k) for k in node.options),
                timeout=node.timeout,
                inter_digit_timeout=node.inter_digit_timeout,
                barge_in=node.barge_in,
                complete_on=frozenset(node.options),
                speech=spoken.grammar(ctx.language),
            )
        )
        fallback = await spoken.heard(
            answer, node=ctx.node_id, language=ctx.language, emit=ctx.emit
        )
        if answer.digits in node.options:
            await ctx.input(answer, "match")
            return answer.digits
        if answer.via == "text" and node.intents:
            meant = await _intent(ctx, node, answer.text or answer.digits)
            if meant is not None:
                await ctx.input(Answer(meant, via="text"), "match")
                return meant
        retry = True
        if not answer.digits and answer.via != "speech":
            await ctx.input(answer, "timeout")
            timeouts += 1
            if timeouts >= node.max_timeouts:
                return "timeout"
            feedback = [*fallback, *node.timeout_prompt]
        else:  # a wrong key, or speech not understood
            await ctx.input(answer, "invalid")
            failures += 1
            if failures >= node.max_failures:
                return "exhausted"
            feedback = [*fallback, *node.invalid_prompt]


async def _intent(ctx: Context, node: m.MenuNode, text: str) -> str | None:
    """The option a typed message means by the menu's intents; asked back with the
    candidates as buttons when it fits several. None: no option (an invalid answer)."""
    match = match_intent(text, ctx.language, node.intents)
    if match.chosen is not None or not match.candidates:
        return match.chosen
    candidates = match.candidates
    again = await ctx.ask(
        Ask(
            prompts=[Prompt(key=MENU_WHICH)],
            max_digits=max(len(k) for k in candidates),
            timeout=node.timeout,
            complete_on=frozenset(candidates),
            labels={k: label_of(k, ctx.language, node.intents) for k in candidates},
        )
    )
    return again.digits if again.digits in candidates else None


async def collect(ctx: Context, node: m.CollectNode) -> str:
    sensitive = node.sensitive or node.into in ctx.sensitive
    feedback: list[m.PromptSpec] = []
    spoken = SpokenAnswers.digits(node.speech)
    for _attempt in range(node.max_retries + 1):
        answer = await ctx.ask(
            Ask(
                prompts=ctx.prompts([*feedback, *node.prompt]),
                max_digits=node.max_digits,
                timeout=node.timeout,
                inter_digit_timeout=node.inter_digit_timeout,
                finish_key=node.finish_key,
                barge_in=node.barge_in,
                sensitive=sensitive,
                speech=spoken.grammar(ctx.language),
            )
        )
        fallback = await spoken.heard(
            answer, node=ctx.node_id, language=ctx.language, emit=ctx.emit, sensitive=sensitive
        )
        timed_out = not answer.digits and node.min_digits > 0 and answer.via != "speech"
        if not timed_out and valid_answer(node, answer.digits):
            await ctx.input(answer, "match", sensitive=sensitive)
            await ctx.set(node.into, answer.digits, sensitive=sensitive)
            return "ok"
        await ctx.input(answer, "timeout" if timed_out else "invalid", sensitive=sensitive)
        feedback = [*fallback, *(node.timeout_prompt if timed_out else node.invalid_prompt)]
    return "timeout" if timed_out else "invalid"


def valid_answer(node: m.CollectNode, digits: str) -> bool:
    """Length limits, then the node's `validate` rule."""
    if not node.min_digits <= len(digits) <= node.max_digits:
        return False
    rule = node.validate_
    if rule == "luhn":
        return luhn(digits)
    if rule == "phone":
        return re.fullmatch(r"\d{5,15}", digits) is not None
    if isinstance(rule, m.Regex):
        return re.fullmatch(rule.regex, digits) is not None
    return True


def luhn(digits: str) -> bool:
    """The Luhn checksum of card numbers."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


async def set_language(ctx: Context, node: m.SetLanguageNode) -> str:
    language = render(node.language, ctx.variables)
    if ctx.flow.languages and language not in ctx.flow.languages:
        raise FlowFailure(f"language {language!r} is not offered by flow {ctx.flow.name!r}")
    if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", language):
        raise FlowFailure(f"{language!r} is not a language code")
    ctx.state["language"] = language
    await ctx.emit("flow.language", {"flow": ctx.flow.name, "language": language})
    return "next"


async def set_values(ctx: Context, node: m.SetNode) -> str:
    # Evaluate all first, so `a: b` and `b: a` swap rather than see half-done updates.
    values = {
        name: evaluate(expr, _env(ctx)) if isinstance(expr, str) else expr
        for name, expr in node.values.items()
    }
    for name, value in values.items():
        await ctx.set(name, value)
    return "next"


def _env(ctx: Context) -> dict[str, Any]:
    return {"language": ctx.language, "channel": ctx.port.channel, **ctx.variables}


async def switch(ctx: Context, node: m.SwitchNode) -> str:
    env = _env(ctx)
    for case in node.cases:
        if evaluate(case, env):
            return case
    return "default"


async def hours(ctx: Context, node: m.HoursNode) -> str:
    schedule = node.schedule
    if not isinstance(schedule, Schedule):
        found = ctx.services.schedule(schedule)
        if found is None:
            raise FlowFailure(f"no schedule named {schedule!r}")
        schedule = found
    return "open" if ctx.services.is_open(schedule) else "closed"


async def http(ctx: Context, node: m.HttpNode) -> str:
    request = HttpRequest(
        target=node.integration or ctx.render(node.url),
        method=node.method,
        params={k: ctx.render(v) for k, v in node.params.items()},
        timeout=node.timeout,
        path=ctx.render(node.path) if node.path else None,
    )
    outcome = "error"
    for _attempt in range(node.retries + 1):
        try:
            result = await ctx.services.http(request)
        except HttpTimeout:
            outcome = "timeout"
            continue
        if result.status >= 500:
            outcome = "error"
            continue  # worth another try; 4xx answers will not change
        break
    else:
        return outcome
    if result.status == 404:
        return "not_found"
    if not 200 <= result.status < 300:
        return "error"
    for name, path in node.response.items():
        await ctx.set(name, json_path(result.json, path))
    return "ok"


def json_path(data: Any, path: str) -> Any:
    """Follow `a.b.0.c` into JSON; None where the path leads nowhere."""
    for part in path.split(".") if path else []:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


async def subflow(ctx: Context, node: m.SubflowNode) -> str:
    assert ctx.subflow is not None
    inputs = {k: ctx.render(v) for k, v in node.inputs.items()}
    outcome, child_vars = await ctx.subflow(node.flow, inputs)
    for mine, theirs in node.outputs.items():
        await ctx.set(mine, child_vars.get(theirs))
    return outcome


async def goto(ctx: Context, node: m.GotoNode) -> str:
    return "next"


async def record(ctx: Context, node: m.RecordNode) -> str:
    if node.prompt:
        await ctx.port.play(ctx.prompts(node.prompt), language=ctx.language, barge_in=False)
    recording = await ctx.port.record(
        max_seconds=node.max_seconds,
        beep=node.beep,
        silence_seconds=node.silence_seconds,
        language=ctx.language,
    )
    if recording.outcome == "recorded" and node.into:
        await ctx.set(node.into, recording.name)
    return recording.outcome


async def transfer(ctx: Context, node: m.TransferNode) -> str:
    if node.prompt:
        await ctx.port.play(ctx.prompts(node.prompt), language=ctx.language, barge_in=False)
    return await ctx.port.transfer(render(node.target, ctx.variables), timeout=node.timeout)


async def survey(ctx: Context, node: m.SurveyNode) -> str:
    answers: dict[str, int | None] = {}
    for question in node.questions:
        keys = frozenset(str(n) for n in range(1, question.scale + 1))
        answers[question.id] = None
        feedback: list[m.PromptSpec] = []
        for _attempt in range(node.max_retries + 1):
            answer = await ctx.ask(
                Ask(
                    prompts=ctx.prompts([*feedback, *question.prompt]),
                    timeout=node.timeout,
                    complete_on=keys,
                )
            )
            if answer.digits in keys:
                await ctx.input(answer, "match")
                answers[question.id] = int(answer.digits)
                break
            await ctx.input(answer, "invalid" if answer.digits else "timeout")
            feedback = node.invalid_prompt if answer.digits else []
    if all(v is None for v in answers.values()):
        return "skipped"
    await ctx.services.save_survey(
        SurveyAnswers(ctx.flow.name, ctx.node_id, node.survey, answers, ctx.language)
    )
    return "done"


async def queue(ctx: Context, node: m.QueueNode) -> str:
    outcome = await ctx.services.enqueue(
        QueueRequest(
            queue=node.queue,
            priority=node.priority,
            skills=dict(node.skills),
            max_wait=node.max_wait,
            language=ctx.language,
            variables={k: v for k, v in ctx.variables.items() if k not in ctx.sensitive},
        )
    )
    if outcome not in node.OUTCOMES:
        raise FlowFailure(f"queue {node.queue!r} ended with unknown outcome {outcome!r}")
    return outcome


async def queue_status(ctx: Context, node: m.QueueStatusNode) -> str:
    status = await ctx.services.queue_status(node.queue)
    for name in node.VARIABLES:
        value = status.get(name)
        await ctx.set(name, -1 if value is None else value)
    return "next"


async def callback(ctx: Context, node: m.CallbackNode) -> str:
    offered = ctx.render(node.number) if node.number else ctx.variables.get("caller_id")

    def check(number: str) -> Checked:
        found = ctx.services.check_callback(node.queue, number)
        return Checked(found.number, found.reason, found.prompt)

    answer = await ask_number(ctx.port, ctx.language, str(offered or ""), check)
    if answer.outcome != "confirmed" or answer.number is None:
        await ctx.set("callback_reason", answer.reason or "not_confirmed")
        return "invalid"
    booking = await ctx.services.book_callback(
        CallbackRequest(node.queue, answer.number, node.priority, ctx.language)
    )
    if not booking.booked:
        if booking.prompt:
            await ctx.port.play([Prompt(key=booking.prompt)], language=ctx.language, barge_in=False)
        await ctx.set("callback_reason", booking.reason)
        return "refused"
    await ctx.set("callback_number", answer.number)
    await ctx.set("callback_id", booking.callback_id)
    if node.prompt:
        await ctx.port.play(ctx.prompts(node.prompt), language=ctx.language, barge_in=False)
    return "booked"


async def hangup(ctx: Context, node: m.HangupNode) -> str:
    await ctx.port.hangup()
    return node.outcome


async def return_(ctx: Context, node: m.ReturnNode) -> str:
    return node.outcome


async def knowledge(ctx: Context, node: m.KnowledgeNode) -> str:
    # Imported here: the knowledge step builds on this module's Context.
    from hotline.flows.knowledge_step import answer_question

    return await answer_question(ctx, node)


STEPS: dict[type[m.Node], Step] = {
    m.PlayNode: play,
    m.MenuNode: menu,
    m.CollectNode: collect,
    m.SetLanguageNode: set_language,
    m.SetNode: set_values,
    m.SwitchNode: switch,
    m.HoursNode: hours,
    m.HttpNode: http,
    m.SubflowNode: subflow,
    m.GotoNode: goto,
    m.RecordNode: record,
    m.TransferNode: transfer,
    m.SurveyNode: survey,
    m.QueueNode: queue,
    m.QueueStatusNode: queue_status,
    m.CallbackNode: callback,
    m.KnowledgeNode: knowledge,
    m.HangupNode: hangup,
    m.ReturnNode: return_,
}
