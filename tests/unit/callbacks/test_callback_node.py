"""The `callback` flow node and the queue node's `callback` outcome, in the simulator
(the same interpreter and steps live calls use) and the linter."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from hotline.catalogue import Catalogue
from hotline.flows.lint import Known, lint_flowset, lint_paths
from hotline.flows.loader import FlowSet, parse_flow
from hotline.flows.simulator import Overrides, simulate

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = Catalogue.load(ROOT / "sounds" / "catalogue.yaml")

FLOW = """
name: cb
start: book
variables:
  caller_id:
nodes:
  book:
    type: callback
    queue: support
    on: {booked: thanks, invalid: sorry, refused: sorry}
  thanks: {type: play, prompts: goodbye, next: end}
  sorry: {type: play, prompts: agents_unavailable, next: end}
  end: {type: hangup}
"""


def flows(text: str = FLOW) -> FlowSet:
    return FlowSet.of(parse_flow(dedent(text), "cb.yaml"))


async def run(inputs: list[str], caller: str = "5551234", **overrides: str):
    return await simulate(
        flows(),
        "cb",
        inputs,
        Overrides(**overrides),  # type: ignore[arg-type]
        catalogue=CATALOGUE,
        variables={"caller_id": caller},
    )


async def test_the_callers_number_is_read_back_and_confirmed() -> None:
    transcript = await run(["1"])
    assert transcript.outcome == "completed"
    assert transcript.prompts[:4] == [
        "callback_number_is",
        "digits:5551234",
        "callback_confirm",
        "callback_booked",
    ]
    assert transcript.variables["callback_number"] == "5551234"
    assert transcript.variables["callback_id"] == "callback-1"
    assert transcript.path == ["book", "thanks", "end"]


async def test_another_number_typed_and_read_back() -> None:
    transcript = await run(["2", "5559876#", "1"])
    assert transcript.variables["callback_number"] == "5559876"
    assert transcript.prompts[:7] == [
        "callback_number_is",
        "digits:5551234",
        "callback_confirm",
        "callback_enter_number",
        "callback_number_is",
        "digits:5559876",
        "callback_confirm",
    ]


async def test_a_number_that_fails_validation_is_refused_with_a_prompt() -> None:
    # An anonymous caller types a number too short, then gives up.
    transcript = await run(["12#", "timeout", "timeout"], caller="anonymous")
    assert transcript.outcome == "completed"
    assert transcript.path == ["book", "sorry", "end"]
    # Told why their own "number" will not do, asked for one, told why that will not
    # either, asked twice more in silence.
    assert transcript.prompts[:5] == [
        "callback_invalid_number",
        "callback_enter_number",
        "callback_invalid_number",
        "callback_enter_number",
        "callback_enter_number",
    ]
    assert transcript.variables["callback_reason"] == "invalid"
    assert "callback_id" not in transcript.variables


async def test_a_refused_booking_says_why() -> None:
    transcript = await run(["1"], callback="already_booked")
    assert transcript.path == ["book", "sorry", "end"]
    assert "callback_already_booked" in transcript.prompts
    assert transcript.variables["callback_reason"] == "already_booked"


async def test_hang_up_during_confirmation_books_nothing() -> None:
    transcript = await run(["hangup"])
    assert transcript.outcome == "hangup"
    assert "callback_id" not in transcript.variables


async def test_queue_node_callback_outcome_falls_back_to_left() -> None:
    text = """
    name: q
    start: wait
    nodes:
      wait:
        type: queue
        queue: support
        on: {answered: end, left: bye, other: end}
      bye: {type: play, prompts: goodbye, next: end}
      end: {type: hangup}
    """
    transcript = await simulate(flows(text), "q", [], Overrides(queue="callback"))
    assert transcript.path == ["wait", "bye", "end"]


def test_lint_knows_the_node() -> None:
    problems = lint_flowset(flows(), catalogue=CATALOGUE, known=Known(queues={"sales"}))
    assert [(p.rule, p.message) for p in problems] == [
        ("queue-unknown", "no queue named 'support' in the config")
    ]
    assert lint_flowset(flows(), catalogue=CATALOGUE, known=Known(queues={"support"})) == []


def test_lint_wants_the_callback_outcomes_handled(tmp_path: Path) -> None:
    path = tmp_path / "cb.yaml"
    path.write_text(FLOW.replace("invalid: sorry, refused: sorry", "refused: sorry"))
    (problem,) = lint_paths([path])
    assert problem.rule == "outcome-unhandled"
    assert "can end 'invalid' but has no target for it" in problem.message
