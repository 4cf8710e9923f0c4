import math

import pytest

from hotline.acd import Outcome


def test_max_length_refuses_with_full(lab):
    lab.queue(max_length=2)
    assert lab.contact("c1").outcome is Outcome.JOINED
    assert lab.contact("c2").outcome is Outcome.JOINED
    refused = lab.contact("c3")
    assert (refused.outcome, refused.position, refused.eta) == (Outcome.FULL, None, None)
    assert lab.r.contact_state("c3") is None
    assert lab.events("contact.refused") == [("contact.refused", "", "c3", "full")]


def test_offered_contacts_count_towards_max_length(lab):
    lab.queue(max_length=1)
    lab.agent("a")
    lab.contact("c1")
    lab.offers(0)
    assert lab.contact("c2", at=1).outcome is Outcome.FULL


@pytest.mark.parametrize(
    ("rule", "setup", "outcome"),
    [
        ("ignore", "none", Outcome.JOINED),
        ("no_agents", "none", Outcome.CLOSED),
        ("no_agents", "paused", Outcome.JOINED),
        ("all_paused", "paused", Outcome.CLOSED),
        ("all_paused", "one_ready", Outcome.JOINED),
        ("no_agents", "other_channel", Outcome.CLOSED),
    ],
)
def test_join_empty_rules(lab, rule, setup, outcome):
    lab.queue(join_empty=rule)
    if setup == "paused":
        lab.agent("a")
        lab.r.pause("a", "lunch", 0)
    elif setup == "one_ready":
        lab.agent("a")
        lab.agent("b")
        lab.r.pause("a", "lunch", 0)
    elif setup == "other_channel":
        lab.agent("chatter", capacity={"chat": 2})
    assert lab.contact("c1", at=1).outcome is outcome


def test_leave_when_empty_removes_waiting_contacts_on_tick(lab):
    lab.queue(leave_when_empty="all_paused")
    lab.agent("a")
    lab.contact("c1", at=1)
    lab.contact("c2", at=2)
    lab.contact("chat", at=3, channel="chat")  # nobody logged in for chat either
    lab.offers(3)  # c1 offered to a
    report = lab.r.tick(4)
    assert [r.contact.id for r in report.closed] == ["chat"]
    lab.r.reject("a", "c1", 5)
    lab.r.pause("a", "lunch", 5)
    report = lab.r.tick(6)
    assert [(r.contact.id, r.outcome) for r in report.closed] == [
        ("c1", Outcome.CLOSED),
        ("c2", Outcome.CLOSED),
    ]
    assert lab.r.snapshot(6).queues[0].outcomes["closed"] == 3


def test_max_wait_times_out_with_outcome_timeout(lab):
    lab.queue(max_wait=60)
    lab.contact("c1", at=0)
    lab.contact("c2", at=0, now=30)  # the limit counts from joining this queue
    lab.contact("forever", at=0, timeout=math.inf)
    lab.contact("short", at=0, timeout=5)
    assert [r.contact.id for r in lab.r.tick(5).timeouts] == ["short"]
    assert lab.r.tick(59).timeouts == []
    assert [(r.contact.id, r.outcome) for r in lab.r.tick(60).timeouts] == [("c1", Outcome.TIMEOUT)]
    assert [r.contact.id for r in lab.r.tick(1000).timeouts] == ["c2"]
    assert lab.r.position("forever") == 1


def test_an_offered_contact_times_out_only_if_the_offer_fails(lab):
    lab.queue(max_wait=10, ring_timeout=30)
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.contact("c2", at=0)
    lab.offers(0)
    assert [r.contact.id for r in lab.r.tick(10).timeouts] == ["c2"]
    lab.r.reject("a", "c1", 12)
    assert [r.contact.id for r in lab.r.tick(13).timeouts] == ["c1"]


def test_remove_queue_closes_its_contacts(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1")
    lab.contact("c2")
    lab.offers(0)
    removed = lab.r.remove_queue("q", 1)
    assert [(r.contact.id, r.withdrawn_from) for r in removed] == [("c1", ("a",)), ("c2", ())]
    assert lab.state("a") == "available"
    with pytest.raises(ValueError, match="unknown queue 'q'"):
        lab.contact("c3")


def test_duplicate_and_unknown_ids_are_errors(lab):
    lab.queue()
    lab.contact("c1")
    with pytest.raises(ValueError, match="already queued"):
        lab.contact("c1")
    with pytest.raises(ValueError, match="already exists"):
        lab.queue()
    lab.agent("a")
    with pytest.raises(ValueError, match="already exists"):
        lab.agent("a")
    with pytest.raises(ValueError, match="log out before removing"):
        lab.r.remove_agent("a")
    lab.r.logout("a", 1)
    lab.r.remove_agent("a")
    with pytest.raises(ValueError, match="unknown agent 'a'"):
        lab.r.login("a", 2)
    lab.agent("b")
    with pytest.raises(ValueError, match="unknown contact 'c9'"):
        lab.r.ringing("b", "c9", 2)
