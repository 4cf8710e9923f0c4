import pytest

from hotline.acd import Agent, Contact, Queue, Router


def first_agent(lab, now, contact="c"):
    lab.contact(contact, at=now)
    (offer,) = lab.r.next_offers(now)
    return offer


def test_longest_idle_picks_who_finished_longest_ago(lab):
    lab.queue(strategy="longest_idle")
    for a in "abc":
        lab.agent(a)
    for cid, agent, end in [("x1", "a", 30), ("x2", "b", 10), ("x3", "c", 20)]:
        lab.contact(cid, at=1)
        lab.r.reserve(agent, cid, 1)
        lab.serve(cid, agent, 2, end)
    offer = first_agent(lab, 40)
    assert offer.agent == "b"
    assert "idle since: 10 vs 20 for runner-up c" in offer.explanation.tie_break


def test_longest_idle_counts_login_time_for_agents_without_contacts(lab):
    lab.queue()
    lab.agent("late", login_at=5)
    lab.agent("early", login_at=1)
    assert first_agent(lab, 10).agent == "early"


def test_least_busy_prefers_lowest_occupancy(make_lab):
    lab = make_lab(occupancy_window=100)
    lab.queue(strategy="least_busy")
    lab.agent("a")
    lab.agent("b")
    lab.contact("x", at=1)
    lab.r.reserve("a", "x", 1)
    lab.serve("x", "a", 1, 51)  # a handled for 50 s of 60 logged in
    lab.contact("y", at=55)
    lab.r.reserve("b", "y", 55)
    lab.serve("y", "b", 55, 60)  # b for 5 s
    offer = first_agent(lab, 60)
    assert offer.agent == "b"
    assert "occupancy" in offer.explanation.tie_break


def test_least_busy_counts_current_load_first_on_multi_contact_channels(lab):
    lab.queue(strategy="least_busy")
    lab.agent("a", capacity={"chat": 3})
    lab.agent("b", capacity={"chat": 3})
    lab.contact("c1", at=1, channel="chat")
    lab.r.reserve("a", "c1", 1)
    lab.r.accept("a", "c1", 1)
    lab.contact("c2", at=2, channel="chat")
    (offer,) = lab.r.next_offers(2)
    assert offer.agent == "b"
    assert "current load" in offer.explanation.tie_break


def test_fewest_contacts_and_daily_reset(lab):
    lab.queue(strategy="fewest_contacts")
    lab.agent("a")
    lab.agent("b")
    for i in range(2):
        lab.contact(f"x{i}", at=i)
        lab.r.reserve("a", f"x{i}", i)
        lab.serve(f"x{i}", "a", i, i + 0.5)
    lab.contact("y", at=3)
    lab.r.reserve("b", "y", 3)
    lab.serve("y", "b", 3, 3.5)
    assert first_agent(lab, 4, "z1").agent == "b"
    lab.r.release("b", "z1", 4)
    lab.r.dequeue("z1", 4)
    lab.r.reset_counters(5)
    assert first_agent(lab, 6, "z2").agent == "a"  # tie on 0: member order


def test_round_robin_with_memory_resumes_after_the_last_agent(lab):
    lab.queue(strategy="rrmemory")
    for a in "abc":
        lab.agent(a)
    picked = []
    for i in range(5):
        offer = first_agent(lab, i, f"c{i}")
        picked.append(offer.agent)
        lab.serve(f"c{i}", offer.agent, i, i + 0.5)
    assert picked == ["a", "b", "c", "a", "b"]
    # b goes on break: the memory skips it and resumes after b's position.
    lab.r.pause("b", "break", 10)
    offer = first_agent(lab, 11, "c9")
    assert offer.agent == "c"
    assert "first member after #1" in offer.explanation.tie_break


def test_round_robin_wraps(lab):
    lab.queue(strategy="rrmemory")
    lab.agent("a")
    lab.agent("b")
    lab.contact("c1", at=0)
    lab.r.reserve("b", "c1", 0)  # a direct pick does not move the memory
    lab.r.accept("b", "c1", 0)
    assert first_agent(lab, 1, "c2").agent == "a"
    lab.r.accept("a", "c2", 1)
    lab.r.finish("b", "c1", 2)
    assert first_agent(lab, 3, "c3").agent == "b"
    lab.r.accept("b", "c3", 3)
    lab.r.finish("a", "c2", 4)
    offer = first_agent(lab, 5, "c4")
    assert offer.agent == "a" and "wrapped" in offer.explanation.tie_break


def test_random_is_repeatable_with_a_seed(make_lab):
    def run(seed):
        lab = make_lab(seed=seed)
        lab.queue(strategy="random")
        for a in "abcdefgh":
            lab.agent(a)
        picks = []
        for i in range(6):
            offer = first_agent(lab, i, f"c{i}")
            picks.append(offer.agent)
            lab.serve(f"c{i}", offer.agent, i, i + 0.5)
        return picks

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert len(set(run(3))) > 1


def test_ring_all_offers_a_voice_contact_to_every_eligible_free_agent(lab):
    lab.queue(strategy="ringall")
    for a in "abc":
        lab.agent(a)
    lab.agent("far", queues={"q": 5})  # higher penalty: only rung when nobody else is free
    lab.contact("c1", at=1)
    offers = lab.r.next_offers(1)
    assert [o.agent for o in offers] == ["a", "b", "c"]
    assert all(o.ring_group == ("a", "b", "c") for o in offers)
    assert {o.contact.id for o in offers} == {"c1"}
    withdrawn = lab.r.accept("b", "c1", 2)
    assert withdrawn == ("a", "c")
    assert [lab.state(a) for a in "abc"] == ["available", "busy", "available"]
    assert lab.r.offers_of("a") == []


def test_ring_all_falls_back_to_one_agent_for_chat(lab):
    lab.queue(strategy="ringall")
    lab.agent("a", capacity={"chat": 2})
    lab.agent("b", capacity={"chat": 2})
    lab.contact("c1", at=1, channel="chat")
    offers = lab.r.next_offers(1)
    assert len(offers) == 1 and offers[0].explanation.strategy == "longest_idle"


def test_best_skilled_prefers_higher_proficiency(lab):
    lab.queue(strategy="best_skilled", skill_steps=[{"after": 0, "require": {"en": 10}}])
    lab.agent("ok", skills={"en": 40})
    lab.agent("great", skills={"en": 90})
    offer = first_agent(lab, 1)
    assert offer.agent == "great"
    assert "decided by proficiency: 90 vs 40" in offer.explanation.tie_break


@pytest.mark.parametrize(
    "strategy",
    ["longest_idle", "least_busy", "fewest_contacts", "rrmemory", "random", "best_skilled"],
)
def test_lower_penalty_agents_go_first_in_every_strategy(strategy):
    r = Router()
    r.add_queue(Queue("q", strategy=strategy))
    r.add_agent(Agent("backup", queues={"q": 1}))
    r.add_agent(Agent("main", queues={"q": 0}))
    r.login("backup", 0)
    r.login("main", 5)
    r.enqueue(Contact("c1", "voice", "q", 1), 10)
    r.enqueue(Contact("c2", "voice", "q", 2), 10)
    offers = r.next_offers(10)
    assert [(o.contact.id, o.agent, o.explanation.penalty) for o in offers] == [
        ("c1", "main", 0),
        ("c2", "backup", 1),
    ]
