from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hotline.flows.hours import Schedule
from hotline.flows.loader import parse_flow
from hotline.flows.model import CollectNode, HttpNode, MenuNode, PromptSpec
from hotline.yamlsource import SourceError

MENU = """
name: m
start: menu
nodes:
  menu:
    type: menu
    prompt: [hello, {say: number, value: "{{ n }}"}, {key: ru_hello, language: ru}]
    options: {1: a, "#": b}
    on: {exhausted: b}
  a: {type: play, prompts: hello, next: b}
  b: {type: hangup}
"""


def test_prompts_and_keys_are_normalised():
    node = parse_flow(MENU).flow.nodes["menu"]
    assert isinstance(node, MenuNode)
    assert node.prompt == [
        PromptSpec(key="hello"),
        PromptSpec(say="number", value="{{ n }}"),
        PromptSpec(key="ru_hello", language="ru"),
    ]
    assert node.options == {"1": "a", "#": "b"}  # YAML's integer key 1 is the DTMF key "1"


def test_routing_follows_fallbacks_and_other():
    node = parse_flow(MENU).flow.nodes["menu"]
    assert node.route("1") == "a"
    assert node.route("timeout") == "b"  # falls back to exhausted
    assert node.route("error") is None
    http = HttpNode.model_validate(
        {"type": "http", "integration": "crm", "on": {"ok": "a", "error": "e"}}
    )
    assert http.route("timeout") == "e" and http.route("not_found") == "e"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("  x: {type: nope}\n", "nodes.x: expected type one of"),
        (
            "  x: {type: play, prompts: hello, next: b, colour: red}\n",
            "nodes.x.colour: unknown field",
        ),
        (
            "  x: {type: menu, prompt: hi, options: {1: b}}\n",
            "nodes.x: missing required field 'on'",
        ),
        (
            "  x: {type: play, prompts: hello, next: 42}\n",
            "nodes.x.next: expected a node id (string), got 42",
        ),
        ("  x: {type: switch, cases: {'a.b == 1': b}, default: b}\n", "Attribute is not allowed"),
        ("  x: {type: play, prompts: [{key: a, say: number}], next: b}\n", "either `key` or `say`"),
        ("  x: {type: http, on: {ok: b}}\n", "either `integration` or `url`"),
        (
            "  x: {type: http, url: x, timeout: 99, on: {ok: b}}\n",
            "nodes.x.timeout: input should be less",
        ),
        (
            "  x: {type: collect, into: a, prompt: p, validate: {regex: '('},"
            " on: {ok: b, invalid: b}}\n",
            "bad regex",
        ),
    ],
)
def test_schema_errors_are_located(snippet: str, message: str):
    text = f"name: t\nstart: x\nnodes:\n{snippet}  b: {{type: hangup}}\n"
    with pytest.raises(SourceError) as caught:
        parse_flow(text, "t.yaml")
    assert message in str(caught.value)
    assert all(p.line == 4 for p in caught.value.problems), str(caught.value)


def test_collect_validate_alias():
    node = CollectNode.model_validate(
        {
            "type": "collect",
            "into": "card",
            "prompt": "p",
            "validate": "luhn",
            "on": {"ok": "a", "invalid": "b"},
        }
    )
    assert node.validate_ == "luhn"


def test_schedule():
    schedule = Schedule(
        timezone="Europe/Moscow",
        weekly={"mon": ["09:00-18:00"], "sat": ["22:00-24:00"]},
        holidays=["2024-01-01"],
    )
    assert schedule.is_open(datetime(2024, 1, 8, 6, 30, tzinfo=UTC))  # 09:30 in Moscow, a Monday
    assert not schedule.is_open(datetime(2024, 1, 8, 15, 30, tzinfo=UTC))  # 18:30
    assert not schedule.is_open(datetime(2024, 1, 1, 8, 0, tzinfo=UTC))  # holiday
    assert schedule.is_open(datetime(2024, 1, 13, 20, 0, tzinfo=UTC))  # 23:00 Saturday
    with pytest.raises(ValidationError, match="unknown time zone"):
        Schedule(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="ends before it starts"):
        Schedule(weekly={"mon": ["18:00-09:00"]})
