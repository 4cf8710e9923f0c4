"""Outbound calls: the body of `POST /api/calls`, who may call as whom, and the rules a
call is checked against (queues, membership, the dial rules) — each refusal's text."""

from __future__ import annotations

import pytest

from hotline.callbacks.settings import CallbackConfig
from hotline.calls.errors import BadCommand, NotFound, NotYours
from hotline.calls.outbound import (
    Callee,
    OutboundPlan,
    OutboundRequest,
    OutboundResult,
    OutboundRules,
    acting_agent,
    parse_outbound,
)

RULES = OutboundRules(
    caller_ids={"support": '"Support" <5550100>', "sales": "", "vip": "5550199"},
    agent_queues={"alice": ["support", "sales"], "bob": ["vip"], "zoe": []},
    dialing=CallbackConfig(
        dial_template="PJSIP/{number}@trunk",
        caller_id="5550000",
        max_length=12,
        allowed_prefixes=["555", "+44"],
    ),
    own_numbers=("5550100", "100"),
)


def test_a_number_a_customer_a_queue_and_an_agent():
    assert parse_outbound({"to": "number:555 1234", "queue": "support"}) == OutboundRequest(
        Callee("number", "555 1234"), "support", None
    )
    assert parse_outbound({"to": " customer:42 ", "agent": "bob"}) == OutboundRequest(
        Callee("customer", "42"), None, "bob"
    )
    assert str(Callee("customer", "42")) == "customer:42"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "must be a JSON object"),
        (["number:5551234"], "must be a JSON object"),
        ({}, 'a call needs "to"'),
        ({"to": "number:5551234", "note": "x"}, "unknown: note"),
        ({"to": 5551234}, '"to" must be "number:<digits>" or "customer:<id>"'),
        ({"to": "agent:bob"}, '"to" must be "number:<digits>" or "customer:<id>"'),
        ({"to": "5551234"}, '"to" must be "number:<digits>" or "customer:<id>"'),
        ({"to": "number:12ab"}, "is not a phone number"),
        ({"to": "customer:abc"}, "a customer is named by their id (digits)"),
        ({"to": "customer:0"}, "a customer is named by their id (digits)"),
        ({"to": "number:5551234", "queue": 7}, '"queue" must be a queue id'),
        ({"to": "number:5551234", "queue": "sup port"}, '"queue" must be a queue id'),
        ({"to": "number:5551234", "agent": ""}, '"agent" must be an agent id'),
    ],
)
def test_bad_bodies_are_refused_with_a_clear_text(body, says):
    with pytest.raises(BadCommand) as refused:
        parse_outbound(body)
    assert says in str(refused.value)
    assert refused.value.status == 400


def test_an_agent_calls_as_themselves_a_supervisor_names_the_agent():
    assert acting_agent(None, "alice") == "alice"
    assert acting_agent("alice", "alice") == "alice"
    assert acting_agent("bob", None) == "bob"
    with pytest.raises(NotYours, match="alice cannot call as bob") as other:
        acting_agent("bob", "alice")
    assert other.value.status == 403
    with pytest.raises(BadCommand, match='name the agent whose phone rings first: "agent"'):
        acting_agent(None, None)


def test_a_plan_with_the_queues_caller_id_and_the_dial_template():
    assert RULES.plan("alice", "support", "555-123 4") == OutboundPlan(
        agent="alice",
        queue="support",
        number="5551234",
        dial="PJSIP/5551234@trunk",
        caller_id='"Support" <5550100>',
    )
    # No caller id of its own: the callbacks' one.
    assert RULES.plan("alice", "sales", "+44 20 7946").caller_id == "5550000"
    # No queue named: the agent's first.
    assert RULES.plan("alice", None, "5551234").queue == "support"
    assert RULES.plan("bob", None, "5551234").caller_id == "5550199"


@pytest.mark.parametrize(
    ("agent", "queue", "number", "error", "says"),
    [
        ("nobody", "support", "5551234", NotFound, "no agent 'nobody'"),
        ("alice", "nowhere", "5551234", NotFound, "no queue 'nowhere'"),
        ("alice", "vip", "5551234", NotYours, "agent alice is not in queue vip"),
        ("zoe", None, "5551234", BadCommand, "agent zoe serves no queue: name one"),
        ("zoe", "support", "5551234", NotYours, "(none)"),
        ("alice", "support", "12", BadCommand, "cannot dial 12: '12' has 2 digits"),
        ("alice", "support", "5551234567890", BadCommand, "has 13 digits"),
        ("alice", "support", "6661234", BadCommand, "does not start with an allowed prefix"),
        ("alice", "support", "555 0100", BadCommand, "the hotline's own number"),
    ],
)
def test_refusals_name_what_is_wrong(agent, queue, number, error, says):
    with pytest.raises(error) as refused:
        RULES.plan(agent, queue, number)
    assert says in str(refused.value)


def test_no_numbers_without_a_callbacks_section():
    rules = OutboundRules({"support": ""}, {"alice": ["support"]}, None)
    with pytest.raises(BadCommand, match="dials no numbers"):
        rules.plan("alice", "support", "5551234")


def test_a_result_says_whether_the_customer_was_dialed():
    assert OutboundResult("answered", "alice").connected
    assert OutboundResult("transferred", "alice").connected
    for outcome in ("no_answer", "busy", "failed", "agent_hung_up"):
        assert OutboundResult(outcome, "alice").dialed
        assert not OutboundResult(outcome, "alice").connected
    for outcome in ("agent_no_answer", "agent_busy", "agent_failed"):
        assert not OutboundResult(outcome, "alice").dialed
