import pytest

from hotline.acd import Agent, Queue


def test_update_queue_keeps_places_and_applies_new_rules(lab):
    lab.queue(skill_steps=[{"after": 0, "require": {"en": 90}}])
    lab.agent("a", skills={"en": 50})
    lab.contact("c1", at=0)
    lab.contact("c2", at=1)
    assert lab.offers(2) == []
    lab.r.update_queue(Queue("q", strategy="rrmemory"), 3)
    assert lab.r.position("c1") == 1
    assert lab.offers(3) == [("c1", "a")]


def test_agents_added_before_or_after_their_queue_are_members(lab):
    lab.agent("early", queues=["late-q"])
    lab.queue("late-q")
    lab.contact("c1", queue="late-q")
    assert lab.offers(1) == [("c1", "early")]


def test_update_agent_moves_queues_and_guards_capacity(lab):
    lab.queue("a")
    lab.queue("b")
    lab.agent("x", queues=["a"])
    lab.contact("c1", queue="b")
    assert lab.offers(1) == []
    lab.r.update_agent(Agent("x", queues=["b"]), 2)
    assert lab.offers(2) == [("c1", "x")]
    with pytest.raises(ValueError, match="log out of voice before removing its capacity"):
        lab.r.update_agent(Agent("x", queues=["b"], capacity={"chat": 1}), 3)


def test_idle_contact_classes_are_dropped_past_the_limit(make_lab):
    lab = make_lab(max_idle_classes=2)
    lab.queue()
    lab.agent("a", skills={f"s{i}": 50 for i in range(5)})
    for i in range(5):
        lab.contact(f"c{i}", at=i, skills={f"s{i}": 10})
    q = lab.r._queues["q"]
    assert len(q.classes) == 5
    for i in range(5):
        (pair,) = lab.offers(10 + i)
        lab.serve(pair[0], "a", 10 + i, 10.5 + i)
    assert len(q.classes) <= 2
    lab.contact("again", at=20, skills={"s0": 10})
    assert lab.offers(20) == [("again", "a")]


def test_logout_during_wrap_up_counts_the_handle_time(make_lab):
    lab = make_lab(handle_window=5)
    lab.queue(wrap_up=60, default_handle_time=999)
    lab.agent("a")
    lab.contact("c1")
    lab.offers(0)
    lab.serve("c1", "a", 10, 40)
    lab.r.logout("a", 45)
    assert lab.state("a") == "offline"
    assert lab.r.snapshot(45).queues[0].average_handle_time == 35
    assert lab.r.tick(200).wrap_ups_ended == []
    lab.r.remove_agent("a")
