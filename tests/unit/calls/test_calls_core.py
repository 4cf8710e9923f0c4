"""hotline/calls: targets, commands, the call state and the hold clock."""

from __future__ import annotations

import pytest

from hotline.calls import (
    BadCommand,
    CallState,
    Command,
    Conflict,
    ConsultState,
    HoldClock,
    NotFound,
    NotYours,
    Target,
    check_owner,
    parse_command,
    parse_target,
)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("agent:bob", Target("agent", "bob")),
        ("queue:sales", Target("queue", "sales")),
        ("number:5551234", Target("number", "5551234")),
        (" number:+44 20 7946-0000 ", Target("number", "+44 20 7946-0000")),
    ],
)
def test_targets_parse(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert str(parse_target(text)) == f"{target.kind}:{target.value}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "must be a text like"),
        (None, "must be a text like"),
        (42, "must be a text like"),
        ("bob", "must start with agent:, queue: or number:"),
        ("phone:123", "must start with agent:, queue: or number:"),
        ("agent:", "is not a valid agent id"),
        ("queue:sa les", "is not a valid queue id"),
        ("agent:" + "x" * 65, "is not a valid agent id"),
        ("number:12ab", "is not a phone number"),
        ("number:", "is not a phone number"),
    ],
)
def test_bad_targets_say_why(text: object, says: str) -> None:
    with pytest.raises(BadCommand, match=says) as refused:
        parse_target(text)
    assert refused.value.status == 400


def test_commands_without_target() -> None:
    for action in ("hold", "resume", "complete", "conference", "cancel"):
        assert parse_command(action, None) == Command(action)  # type: ignore[arg-type]
        assert parse_command(action, {}) == Command(action)  # type: ignore[arg-type]


def test_transfer_and_consult_take_target_and_note() -> None:
    command = parse_command("transfer", {"to": "agent:bob", "note": "  wants a refund "})
    assert command == Command("transfer", Target("agent", "bob"), "wants a refund")
    assert parse_command("consult", {"to": "queue:sales"}) == Command(
        "consult", Target("queue", "sales"), ""
    )
    assert parse_command("consult", {"to": "queue:sales", "note": None}).note == ""


@pytest.mark.parametrize(
    ("action", "body", "says"),
    [
        ("park", {}, "unknown action 'park'; expected one of hold, resume, transfer"),
        ("hold", [], "the body must be a JSON object"),
        ("hold", {"to": "agent:bob"}, "hold takes no fields (got to)"),
        ("transfer", {}, 'transfer needs "to"'),
        ("transfer", None, 'transfer needs "to"'),
        ("consult", {"to": "agent:bob", "x": 1}, "consult takes 'to' and 'note' (unknown: x)"),
        ("transfer", {"to": "agent:bob", "note": 5}, '"note" must be a text'),
        ("transfer", {"to": "agent:bob", "note": "n" * 2001}, "at most 2000"),
        ("transfer", {"to": "bob"}, "must start with agent:"),
    ],
)
def test_bad_commands_say_why(action: str, body: object, says: str) -> None:
    with pytest.raises(BadCommand) as refused:
        parse_command(action, body)
    assert says in str(refused.value)


def test_state_as_json() -> None:
    state = CallState("c1", "alice", "support", held=True, hold_seconds=12.345)
    assert state.to_json() == {
        "contact_id": "c1",
        "agent": "alice",
        "queue": "support",
        "held": True,
        "hold_seconds": 12.3,
        "consult": None,
        "conference": False,
    }
    consulting = CallState("c1", "alice", "support", consult=ConsultState("agent:bob", "ringing"))
    assert consulting.to_json()["consult"] == {"to": "agent:bob", "state": "ringing", "party": ""}


def test_owner_check() -> None:
    state = CallState("c1", "alice", "support")
    check_owner(state, "alice")
    check_owner(state, None)  # a supervisor
    with pytest.raises(NotYours, match="contact c1 is alice's call") as refused:
        check_owner(state, "bob")
    assert refused.value.status == 403


def test_error_statuses() -> None:
    assert (NotFound("x").status, Conflict("x").status, BadCommand("x").status) == (
        404,
        409,
        400,
    )


def test_hold_clock_counts_every_hold() -> None:
    clock = HoldClock()
    assert not clock.held
    assert clock.resume(5.0) == 0.0  # not on hold: nothing
    clock.hold(10.0)
    clock.hold(11.0)  # already on hold: the first start counts
    assert clock.held
    assert clock.seconds(14.0) == 4.0
    assert clock.resume(16.0) == 6.0
    assert not clock.held
    clock.hold(20.0)
    assert clock.seconds(21.5) == 7.5
    assert clock.resume(23.0) == 3.0
    assert clock.total == 9.0
    assert clock.holds == [6.0, 3.0]
    assert clock.seconds(100.0) == 9.0
