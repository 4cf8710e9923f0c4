import pytest

from hotline.acd.eta import HandleTimes, estimate


def test_formula():
    assert estimate(1, free=1, slots=4, aht=120) == 0
    assert estimate(3, free=1, slots=4, aht=120) == 60  # 120 * (3 - 1) / 4
    assert estimate(1, free=0, slots=0, aht=120) is None


def test_ewma_and_rolling_window():
    ewma = HandleTimes(alpha=0.5)
    assert ewma.average(default=99) == 99
    for x in (100, 200):
        ewma.add(x)
    assert ewma.average(99) == 150
    window = HandleTimes(window=2)
    for x in (10, 20, 60):
        window.add(x)
    assert window.average(99) == 40
    with pytest.raises(ValueError):
        HandleTimes(alpha=0)
    with pytest.raises(ValueError):
        HandleTimes(window=0)


def test_router_estimates_by_position_from_handle_times(make_lab):
    lab = make_lab(handle_window=10)
    lab.queue(default_handle_time=300, wrap_up=20)
    lab.agent("a")
    lab.agent("b")
    assert lab.r.queue_eta("q") == 0  # two agents free
    for i in range(4):
        lab.contact(f"c{i}", at=i)
    lab.offers(4)  # c0, c1 offered; both agents reserved
    assert lab.r.eta("c0") == 0
    assert lab.r.eta("c2") == 300 / 2 * 1  # default AHT, position 1, 2 slots
    assert lab.r.eta("c3") == 300
    lab.serve("c1", "b", 5, 45)
    lab.r.end_wrap_up("b", 50)  # 40 s talk + 5 s early-ended wrap-up = 45 s
    lab.serve("c0", "a", 5, 65)  # 60 s talk
    lab.r.tick(85)  # + 20 s wrap-up = 80 s handle time
    assert lab.r.snapshot(85).queues[0].average_handle_time == pytest.approx((80 + 45) / 2)
    assert lab.r.eta("c2") == 0  # both free again
    lab.r.pause("a", "lunch", 86)
    lab.offers(86)  # c2 goes to b
    assert lab.r.eta("c3") == pytest.approx(62.5)  # one slot left serving
    assert lab.r.queue_eta("q", "chat") is None  # nobody serves chat
    assert lab.r.eta("nope") is None
    # `place`: both at once, as each asked alone.
    for contact in ("c0", "c2", "c3", "nope"):
        assert lab.r.place(contact) == (lab.r.position(contact), lab.r.eta(contact))
    assert lab.r.place("c3") == (1, pytest.approx(62.5)) and lab.r.place("c2") == (0, 0)
    assert lab.r.place("nope") == (None, None)


def test_join_result_carries_position_and_eta(lab):
    lab.queue(default_handle_time=100)
    lab.agent("a")
    first = lab.contact("c1", at=0)
    assert (first.position, first.eta) == (1, 0)
    lab.offers(0)
    second = lab.contact("c2", at=1)
    assert (second.position, second.eta) == (1, 100)
