from hotline.acd import Outcome


def test_priority_first_then_first_entered_then_arrival_sequence(lab):
    lab.queue()
    lab.contact("late-low", at=5)
    lab.contact("early-low", at=1, now=6)
    lab.contact("vip", at=7, priority=10)
    lab.contact("tie-a", at=3, now=8)
    lab.contact("tie-b", at=3, now=9)  # same priority and time: arrival order decides
    order = sorted(["late-low", "early-low", "vip", "tie-a", "tie-b"], key=lab.r.position)
    assert order == ["vip", "early-low", "tie-a", "tie-b", "late-low"]
    assert [lab.r.position(c) for c in order] == [1, 2, 3, 4, 5]
    lab.agent("a", login_at=10)
    offered = []
    for now in range(11, 16):
        (pair,) = lab.offers(now)
        offered.append(pair[0])
        lab.serve(pair[0], "a", now, now + 0.5)
    assert offered == order


def test_a_callback_entry_keeps_its_original_place(lab):
    lab.queue()
    lab.contact("first-caller", at=10)
    lab.contact("second-caller", at=20)
    # The caller who entered at 5 chose a callback; its entry comes back at 30.
    result = lab.contact("callback-1", at=5, now=30, channel="callback")
    assert result.outcome is Outcome.JOINED and result.position == 1
    assert lab.r.position("first-caller") == 2


def test_position_is_none_for_unknown_and_zero_while_offered(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=1)
    lab.contact("c2", at=2)
    assert lab.r.position("nope") is None
    lab.offers(3)
    assert lab.r.position("c1") == 0 and lab.r.position("c2") == 1
    assert lab.r.contact_state("c1") == "offered"
    lab.r.reject("a", "c1", 4)
    assert lab.r.position("c1") == 1 and lab.r.position("c2") == 2
    lab.r.drain_events()
    lab.r.dequeue("c2", 5)
    assert lab.r.position("c2") is None
    assert lab.events("contact.leave") == [("contact.leave", "", "c2", "left")]
