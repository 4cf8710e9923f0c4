from datetime import UTC, datetime

import pytest

from hotline.flows.hours import Schedule
from hotline.flows.interpreter import FlowRunner
from hotline.flows.services import DefaultServices, HttpResult
from hotline.flows.simulator import SimulatorPort


async def run(flowset, inputs, events, services=None, flow="t", **kwargs):
    port = SimulatorPort(inputs)
    runner = FlowRunner(
        flowset, port, services or DefaultServices(), events, **kwargs.pop("runner", {})
    )
    result = await runner.run(flow, kwargs.get("variables"), kwargs.get("language", "en"))
    return result, port


MENU = """
name: t
start: menu
nodes:
  menu:
    type: menu
    prompt: main_menu
    short_prompt: again
    invalid_prompt: invalid_option
    timeout_prompt: no_input
    options: {"1": one, "9": menu}
    max_failures: 2
    max_timeouts: 2
    on: {exhausted: bye}
  one: {type: play, prompts: opening_hours, next: bye}
  bye: {type: hangup}
"""


async def test_events_of_a_simple_run(make_flows, events):
    flowset = make_flows(MENU)
    result, port = await run(flowset, ["1"], events)
    assert result.outcome == "completed"
    assert result.path == ["menu", "one", "bye"]
    assert [kind for kind, _ in events] == [
        "flow.started",
        "flow.node",
        "flow.input",
        "flow.outcome",
        "flow.node",
        "flow.outcome",
        "flow.node",
        "flow.ended",
    ]
    assert events[0][1] == {"flow": "t", "version": flowset["t"].version, "depth": 0}
    assert events.of("flow.input") == [
        {"flow": "t", "node": "menu", "digits": "1", "result": "match"}
    ]
    assert events.of("flow.outcome")[0] == {
        "flow": "t",
        "node": "menu",
        "outcome": "1",
        "next": "one",
    }
    assert events.of("flow.ended") == [
        {"flow": "t", "outcome": "completed", "node": "bye", "depth": 0}
    ]
    assert port.said == ["main_menu", "opening_hours"]


async def test_menu_retries_with_feedback_then_exhausts(make_flows, events):
    result, port = await run(make_flows(MENU), ["5", "timeout", "7"], events)
    assert port.said == ["main_menu", "invalid_option", "again", "no_input", "again"]
    assert [e["result"] for e in events.of("flow.input")] == ["invalid", "timeout", "invalid"]
    assert events.of("flow.outcome")[0]["outcome"] == "exhausted"
    assert result.path == ["menu", "bye"]


async def test_menu_timeouts_exhaust_separately(make_flows, events):
    await run(make_flows(MENU), ["timeout", "5", "timeout"], events)
    assert events.of("flow.outcome")[0] == {
        "flow": "t",
        "node": "menu",
        "outcome": "timeout",
        "next": "bye",
    }


async def test_typed_ahead_digits_carry_to_the_next_question(make_flows, events):
    flow = MENU.replace('"9": menu', '"9": menu2').replace(
        "  bye: {type: hangup}",
        "  menu2: {type: menu, prompt: p, options: {'3': bye}, on: {exhausted: bye}}\n"
        "  bye: {type: hangup}",
    )
    result, _ = await run(make_flows(flow), ["93"], events)
    assert result.path == ["menu", "menu2", "bye"]


async def test_caller_gone_ends_with_hangup(make_flows, events):
    result, _ = await run(make_flows(MENU), ["hangup"], events)
    assert result.outcome == "hangup"
    assert events.of("flow.ended")[0]["outcome"] == "hangup"


async def test_step_limit(make_flows, events):
    result, _ = await run(make_flows(MENU), ["9"] * 20, events, runner={"max_steps": 5})
    assert result.outcome == "error"
    assert "step limit of 5" in events.of("flow.error")[0]["message"]


COLLECT = """
name: t
start: card
variables:
  attempts: {default: 0}
nodes:
  card:
    type: collect
    into: card
    prompt: enter_card
    invalid_prompt: invalid
    max_digits: 19
    validate: luhn
    max_retries: 1
    sensitive: true
    on: {ok: check, invalid: failed}
  check:
    type: switch
    cases:
      "len(card) == 16 and attempts == 0": good
    default: failed
  good:
    type: set
    values: {attempts: "attempts + 1", tier: "'gold'"}
    next: done
  done: {type: return, outcome: paid}
  failed: {type: return, outcome: unpaid}
"""


async def test_collect_validates_and_masks(make_flows, events):
    result, port = await run(
        make_flows(COLLECT), ["4111111111111112#", "4111111111111111#"], events
    )
    assert result.outcome == "paid"
    assert result.variables == {"attempts": 1, "card": "4111111111111111", "tier": "gold"}
    assert port.said == ["enter_card", "invalid", "enter_card"]
    inputs = events.of("flow.input")
    assert [(i["digits"], i["result"]) for i in inputs] == [("***", "invalid"), ("***", "match")]
    assert {"flow": "t", "name": "card", "value": "***"} in events.of("flow.variable")
    assert {"flow": "t", "name": "tier", "value": "gold"} in events.of("flow.variable")
    assert all("4111" not in str(data) for _, data in events)


async def test_collect_exhausted(make_flows, events):
    result, _ = await run(make_flows(COLLECT), ["12#", "timeout"], events)
    assert result.outcome == "unpaid"
    assert events.of("flow.outcome")[0]["outcome"] == "timeout"  # falls back to invalid


@pytest.mark.parametrize(
    ("rule", "good", "bad"), [("phone", "4915123456", "12"), ("{regex: '[0-4]+'}", "1234", "1235")]
)
async def test_collect_rules(make_flows, events, rule, good, bad):
    flow = COLLECT.replace("validate: luhn", f"validate: {rule}").replace(
        "len(card) == 16 and ", ""
    )
    assert (await run(make_flows(flow), [good + "#"], events))[0].outcome == "paid"
    assert (await run(make_flows(flow), [bad + "#", bad + "#"], events))[0].outcome == "unpaid"


ERRORS = """
name: t
start: s
nodes:
  s:
    type: switch
    cases: {"missing == 1": a}
    default: a
    on: {error: handled}
  a: {type: hangup}
  handled: {type: hangup, outcome: handled}
"""


async def test_runtime_error_goes_to_error_outcome(make_flows, events):
    result, _ = await run(make_flows(ERRORS), [], events)
    assert result.outcome == "handled"
    [outcome] = events.of("flow.outcome")
    assert outcome["outcome"] == "error" and "'missing' is not set" in outcome["message"]
    assert events.of("flow.error") == []


async def test_runtime_error_without_error_outcome_ends_the_flow(make_flows, events):
    result, _ = await run(make_flows(ERRORS.replace("    on: {error: handled}\n", "")), [], events)
    assert result.outcome == "error"
    assert events.of("flow.error") == [
        {"flow": "t", "node": "s", "message": "variable 'missing' is not set"}
    ]
    assert events.of("flow.ended")[0] == {"flow": "t", "outcome": "error", "node": "s", "depth": 0}


async def test_missing_target_and_unknown_flow_are_errors_not_crashes(make_flows, events):
    flowset = make_flows("name: t\nstart: a\nnodes:\n  a: {type: goto, target: nowhere}\n")
    assert (await run(flowset, [], events))[0].outcome == "error"
    assert "no node 'nowhere'" in events.of("flow.error")[0]["message"]
    assert (await run(flowset, [], events, flow="nope"))[0].outcome == "error"


HTTP = """
name: t
start: lookup
variables:
  caller_id:
nodes:
  lookup:
    type: http
    integration: crm
    path: /customers
    params: {phone: "{{ caller_id }}", limit: 1}
    retries: 1
    response: {name: customer.name, first: items.0, nothing: a.b.c}
    on: {ok: ok, not_found: nf, timeout: to, error: err}
  ok: {type: return, outcome: ok}
  nf: {type: return, outcome: nf}
  to: {type: return, outcome: to}
  err: {type: return, outcome: err}
"""


@pytest.mark.parametrize(
    ("fixture", "outcome"),
    [
        (HttpResult(200, {"customer": {"name": "Ann"}, "items": [7]}), "ok"),
        (HttpResult(404), "nf"),
        ("timeout", "to"),
        (HttpResult(503), "err"),
        (HttpResult(400), "err"),
    ],
)
async def test_http(make_flows, events, fixture, outcome):
    services = DefaultServices(http_fixtures={"crm": fixture})
    result, _ = await run(make_flows(HTTP), [], events, services, variables={"caller_id": "555"})
    assert result.outcome == outcome
    request = services.requests[0]
    assert (request.target, request.path, dict(request.params)) == (
        "crm",
        "/customers",
        {"phone": "555", "limit": 1},
    )
    retried = fixture == "timeout" or (isinstance(fixture, HttpResult) and fixture.status >= 500)
    assert len(services.requests) == (2 if retried else 1)
    if outcome == "ok":
        assert result.variables == {"caller_id": "555", "name": "Ann", "first": 7, "nothing": None}


HOURS = """
name: t
start: h
nodes:
  h:
    type: hours
    schedule: {SCHEDULE}
    on: {open: o, closed: c}
  o: {type: return, outcome: open}
  c: {type: return, outcome: closed}
"""


async def test_hours_inline_named_and_forced(make_flows, events):
    inline = make_flows(
        HOURS.replace("{SCHEDULE}", "{timezone: UTC, weekly: {mon: ['09:00-17:00']}}")
    )
    monday_noon = DefaultServices(clock=lambda: datetime(2024, 1, 8, 12, tzinfo=UTC))
    assert (await run(inline, [], events, monday_noon))[0].outcome == "open"
    named = make_flows(HOURS.replace("{SCHEDULE}", "office"))
    office = DefaultServices(schedules={"office": Schedule()})
    assert (await run(named, [], events, office))[0].outcome == "closed"
    assert (await run(named, [], events, DefaultServices(hours_open=True)))[0].outcome == "open"
    # No schedule of that name: an error, not a crash.
    assert (await run(named, [], events, DefaultServices()))[0].outcome == "error"


SUB = """
name: t
start: call
variables:
  caller_id: {default: "100"}
nodes:
  call:
    type: subflow
    flow: child
    inputs: {number: "{{ caller_id }}"}
    outputs: {greeting: text}
    on: {found: lang, other: bye}
  lang: {type: set_language, language: ru, next: bye}
  bye: {type: hangup}
"""
CHILD = """
name: child
start: s
variables:
  number:
nodes:
  s: {type: set, values: {text: "'hi ' + number"}, next: r}
  r: {type: return, outcome: found}
"""


async def test_subflow_passes_variables_and_returns_outcome(make_flows, events):
    result, _ = await run(make_flows(SUB, CHILD), [], events)
    assert result.outcome == "completed"
    assert result.variables == {"caller_id": "100", "greeting": "hi 100"}
    assert result.language == "ru"
    assert result.path == ["call", "child/s", "child/r", "lang", "bye"]
    assert [e["depth"] for e in events.of("flow.started")] == [0, 1]
    assert events.of("flow.language") == [{"flow": "t", "language": "ru"}]


async def test_subflow_recursion_is_bounded(make_flows, events):
    loop = (
        "name: t\nstart: a\nnodes:\n"
        "  a: {type: subflow, flow: t, on: {other: b}}\n  b: {type: hangup}\n"
    )
    assert (await run(make_flows(loop), [], events))[0].outcome == "error"


OTHERS = """
name: t
start: rec
nodes:
  rec:
    type: record
    prompt: leave_message
    into: voicemail
    on: {recorded: survey, other: bye}
  survey:
    type: survey
    questions:
      - {id: q1, prompt: rate_agent}
      - {id: q2, prompt: rate_call, scale: 3}
    on: {done: xfer, skipped: xfer}
  xfer:
    type: transfer
    target: "sip:{{ voicemail }}@127.0.0.1"
    on: {answered: q, other: bye}
  q:
    type: queue
    queue: support
    priority: 5
    skills: {english: 50}
    on: {answered: bye, other: bye}
  bye: {type: hangup}
"""


async def test_record_survey_transfer_queue(make_flows, events):
    services = DefaultServices(queue_outcome="timeout")
    result, port = await run(make_flows(OTHERS), ["9", "4", "timeout", "timeout"], events, services)
    assert result.path == ["rec", "survey", "xfer", "q", "bye"]
    assert result.variables == {"voicemail": "simulated-recording"}
    [saved] = services.surveys
    assert dict(saved.answers) == {"q1": 4, "q2": None}
    [queued] = services.enqueued
    assert (queued.queue, queued.priority, dict(queued.skills)) == ("support", 5, {"english": 50})
    assert any("transfer to sip:simulated-recording@127.0.0.1" in line.text for line in port.lines)
    assert events.of("flow.outcome")[-1] == {
        "flow": "t",
        "node": "q",
        "outcome": "timeout",
        "next": "bye",
    }


async def test_unknown_queue_outcome_is_an_error(make_flows, events):
    services = DefaultServices(queue_outcome="weird")
    result, _ = await run(make_flows(OTHERS), ["4", "2"], events, services)
    assert result.outcome == "error"


async def test_unknown_subflow_goes_to_error_outcome(make_flows, events):
    flowset = make_flows(
        "name: t\nstart: a\nnodes:\n"
        "  a: {type: subflow, flow: gone, on: {other: b, error: c}}\n"
        "  b: {type: hangup}\n  c: {type: hangup, outcome: fallback}\n"
    )
    result, _ = await run(flowset, [], events)
    assert result.outcome == "fallback"
    assert "no flow named 'gone'" in events.of("flow.outcome")[0]["message"]
