def test_queue_weight_decides_first(lab):
    lab.queue("low", weight=0)
    lab.queue("high", weight=10)
    lab.agent("a", queues=["low", "high"])
    lab.contact("old", at=0, queue="low")
    lab.contact("new", at=50, queue="high")
    offers = lab.r.next_offers(50)
    assert [(o.contact.id, o.queue) for o in offers] == [("new", "high")]
    assert "weight 10" in offers[0].explanation.queue_choice


def test_equal_weight_goes_to_the_longest_waiting_contact(lab):
    lab.queue("sales")
    lab.queue("support")
    lab.agent("a", queues=["sales", "support"])
    lab.contact("s1", at=20, queue="sales")
    lab.contact("t1", at=10, queue="support", now=20)
    offers = lab.r.next_offers(30)
    assert [(o.contact.id, o.agent) for o in offers] == [("t1", "a")]
    assert "first in line among 2 queues" in offers[0].explanation.queue_choice


def test_shared_agents_are_split_without_double_offers(lab):
    lab.queue("a", weight=5)
    lab.queue("b")
    lab.agent("both", queues=["a", "b"])
    lab.agent("only-b", queues=["b"], login_at=10)
    lab.contact("b1", at=0, queue="b")
    lab.contact("a1", at=5, queue="a")
    lab.contact("b2", at=6, queue="b")
    pairs = lab.offers(20)
    assert pairs == [("a1", "both"), ("b1", "only-b")]
    assert lab.r.position("b2") == 1


def test_choice_is_deterministic(make_lab):
    def run():
        lab = make_lab(seed=3)
        for i in range(4):
            lab.queue(f"q{i}", weight=i % 2, strategy="random")
        for i in range(12):
            lab.agent(f"a{i}", queues=[f"q{i % 4}", f"q{(i + 1) % 4}"], login_at=i % 3)
        for i in range(30):
            lab.contact(f"c{i}", at=i % 7, queue=f"q{i % 4}", priority=i % 3, now=10)
        return lab.offers(10)

    first = run()
    assert first == run() and len(first) == 12
