from hotline.acd import NO_ANSWER_REASON, Outcome


def test_reject_puts_the_contact_back_in_its_place(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=0)
    lab.contact("c2", at=1)
    assert lab.offers(2) == [("c1", "a"), ("c2", "b")]
    lab.r.reject("a", "c1", 3)
    assert lab.r.position("c1") == 1
    assert lab.state("a") == "available"
    assert lab.offers(3) == [("c1", "a")]
    assert ("contact.requeue", "", "c1", "reject by a") in lab.events("contact.requeue")


def test_no_answer_makes_the_agent_available_by_default(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.ringing("a", "c1", 1)
    lab.r.no_answer("a", "c1", 16)
    assert lab.state("a") == "available"
    assert lab.r.contact_state("c1") == "waiting"


def test_no_answer_can_pause_the_agent(lab):
    lab.queue(on_no_answer="pause")
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.no_answer("a", "c1", 16)
    status = lab.r.agent_status("a")["voice"]
    assert (status.state.value, status.reason) == ("paused", NO_ANSWER_REASON)
    assert lab.offers(16) == [("c1", "b")]


def test_ring_timeout_fires_from_tick(lab):
    lab.queue(ring_timeout=10, on_no_answer="pause")
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.ringing("a", "c1", 1)
    assert lab.r.tick(9.9).no_answers == []
    report = lab.r.tick(10)
    assert report.no_answers == [("a", "c1")]
    assert lab.state("a") == "paused"
    assert lab.r.tick(30).no_answers == []  # handled once


def test_ring_all_returns_the_contact_only_when_every_ring_failed(lab):
    lab.queue(strategy="ringall", ring_timeout=5)
    lab.agent("a")
    lab.agent("b")
    lab.contact("c1", at=0)
    assert len(lab.r.next_offers(0)) == 2
    lab.r.reject("a", "c1", 1)
    assert lab.r.contact_state("c1") == "offered"
    assert lab.r.tick(5).no_answers == [("b", "c1")]
    assert lab.r.contact_state("c1") == "waiting"


def test_release_withdraws_an_undeliverable_offer(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.release("a", "c1", 1, reason="originate failed")
    assert lab.r.position("c1") == 1
    assert ("agent.release", "a", "c1", "originate failed") in lab.events("agent.release")


def test_caller_hangs_up_while_ringing_withdraws_the_offers(lab):
    lab.queue(strategy="ringall")
    lab.agent("a")
    lab.agent("b")
    lab.contact("c1", at=0)
    lab.r.next_offers(0)
    removed = lab.r.dequeue("c1", 2)
    assert removed.outcome is Outcome.LEFT and removed.withdrawn_from == ("a", "b")
    assert [lab.state(a) for a in "ab"] == ["available", "available"]
    assert lab.r.dequeue("c1", 3) is None


def test_wrap_up_then_available_or_early_end(lab):
    lab.queue(wrap_up=30)
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.contact("c2", at=1)
    lab.offers(1)
    lab.serve("c1", "a", 2, 10)
    assert lab.state("a") == "wrap_up"
    assert lab.offers(20) == []
    assert lab.r.tick(39.9).wrap_ups_ended == []
    assert lab.r.tick(40).wrap_ups_ended == ["a"]
    assert lab.offers(40) == [("c2", "a")]
    lab.serve("c2", "a", 41, 50)
    lab.r.end_wrap_up("a", 55)
    assert lab.state("a") == "available"
    assert lab.r.tick(100).wrap_ups_ended == []  # the old timer is void


def test_pause_during_a_call_stays_paused_after_it(lab):
    lab.queue(wrap_up=30)
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.accept("a", "c1", 1)
    lab.r.pause("a", "meeting", 2)
    lab.r.finish("a", "c1", 3)
    status = lab.r.agent_status("a")["voice"]
    assert (status.state.value, status.reason, status.load) == ("paused", "meeting", 0)
    lab.r.unpause("a", 4)
    assert lab.state("a") == "available"


def test_contact_hangs_up_during_the_call_is_just_finished(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=0)
    lab.offers(0)
    lab.r.accept("a", "c1", 1)
    import pytest

    with pytest.raises(ValueError, match="connected to a: finish it instead"):
        lab.r.dequeue("c1", 2)
    lab.r.finish("a", "c1", 2)
    assert lab.r.contact_state("c1") is None
