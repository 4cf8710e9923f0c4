"""A caller on hold (maybe while the agent consulted) when the controller died: the
survey gives the conversation back to take over, the consulted party's legs to hang
up (ari_app/recovery.py); and what the log leaves open of the consultation and hold."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from ari_app.recovery import Conversation, open_consultation_and_hold, survey
from tests.unit.test_recovery_survey import T0, chan, contact

LEG = "held-agent-abcd1234"


def test_a_held_caller_goes_back_to_the_agents_leg_and_the_party_is_an_orphan() -> None:
    channels = [
        chan("held"),  # on hold: in Stasis, in no bridge
        chan(LEG, "hotline,agent,c-held"),
        chan("held-consult-11111111", "hotline,consult,held"),  # the party, answered
        chan("held-consult-22222222", None),  # a consulted colleague's phone, ringing
    ]
    bridges = [{"id": f"talk-{LEG}", "channels": [LEG, "held-consult-11111111"]}]
    found = survey(
        "hotline", channels, bridges, [contact("c-held", "held")], lambda _: False, set()
    )
    (talk,) = found.talking
    assert talk == Conversation("held", LEG, f"talk-{LEG}", talk.contact, held=True)
    assert sorted(found.orphans) == ["held-consult-11111111", "held-consult-22222222"]
    assert found.restart == [] and found.stale_bridges == [] and found.stranded == []


def test_after_a_completed_consultation_the_colleagues_leg_is_the_agents() -> None:
    colleague = "held-consult-33333333"  # dave's leg, alone: the bridge keeps carol's name
    channels = [chan("held"), chan(colleague, "hotline,consult,held")]
    bridges = [{"id": f"talk-{LEG}", "channels": [colleague]}]
    found = survey(
        "hotline", channels, bridges, [contact("c-held", "held")], lambda _: False, set()
    )
    (talk,) = found.talking
    assert (talk.channel, talk.leg, talk.held) == ("held", colleague, True)
    assert found.orphans == []


def test_a_held_caller_whose_agent_left_starts_again() -> None:
    """The agent hung up meanwhile: no leg in the bridge to go back to (the bridge is
    stale): the caller starts the flow again, as in the IVR."""
    found = survey(
        "hotline",
        [chan("held")],
        [{"id": f"talk-{LEG}", "channels": []}],
        [contact("c-held", "held")],
        lambda _: False,
        set(),
    )
    assert found.talking == [] and [c["id"] for c, _ in found.restart] == ["held"]
    assert found.stale_bridges == [f"talk-{LEG}"]


def logged(seconds: float, kind: str, **data: object) -> SimpleNamespace:
    return SimpleNamespace(type=kind, ts=T0 + timedelta(seconds=seconds), data=data)


def test_the_consultation_and_hold_the_log_leaves_open() -> None:
    events = [
        logged(0, "queue.connected", agent="carol"),
        logged(5, "call.held", agent="carol"),
        logged(9, "call.resumed", total_hold_seconds=4.0),
        logged(20, "call.held", agent="carol"),
        logged(20, "call.consult_started", to="number:5557801"),
    ]
    consulting, held, total = open_consultation_and_hold(events)
    assert consulting is events[-1] and held is events[-2] and total == 4.0
    ended = [*events, logged(30, "call.consult_ended"), logged(31, "call.resumed")]
    assert open_consultation_and_hold(ended)[:2] == (None, None)
    # after a completed consultation the colleague's holds start from nothing
    moved = [*events, logged(30, "call.transferred"), logged(31, "queue.connected")]
    consulting, held, total = open_consultation_and_hold(moved)
    assert consulting is None and total == 0.0


def test_a_consultation_from_the_phone_goes_and_the_caller_is_back() -> None:
    """alice's phone consulted on its second call (`consult-<line>`: the line and the
    party): both are orphans, that bridge goes, the held caller goes back to leg 1."""
    channels = [
        chan("held"),
        chan(LEG, "hotline,agent,c-held"),
        chan("line-2"),  # the phone's second call: in Stasis as an inbound call
        chan("held-consult-44444444", "hotline,consult,held"),
    ]
    bridges = [
        {"id": f"talk-{LEG}", "channels": [LEG]},
        {"id": "consult-line-2", "channels": ["line-2", "held-consult-44444444"]},
    ]
    found = survey(
        "hotline", channels, bridges, [contact("c-held", "held")], lambda _: False, set()
    )
    (talk,) = found.talking
    assert (talk.channel, talk.leg, talk.held) == ("held", LEG, True)
    assert sorted(found.orphans) == ["held-consult-44444444", "line-2"]
    assert found.stale_bridges == ["consult-line-2"]
