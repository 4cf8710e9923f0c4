"""Declines: an agent who rejected a contact, let it ring out or whose offer of it failed
is passed over for that contact while another eligible agent is free; once every free
eligible agent has declined it, it goes round them again, the oldest decline first."""

import pytest

from hotline.acd import Agent, Offer, Queue, Router, Strategy
from hotline.acd.service import RoutingService


def offer_of(lab, now):
    (offer,) = lab.r.next_offers(now)
    return offer


@pytest.mark.parametrize("strategy", ["longest_idle", "least_busy", "fewest_contacts"])
def test_reject_offers_the_contact_to_the_next_agent(make_lab, strategy):
    lab = make_lab()
    lab.queue(strategy=strategy)
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    assert lab.offers(2) == [("c1", "a")]
    lab.r.reject("a", "c1", 3)
    offer = offer_of(lab, 3)
    assert offer.agent == "b"
    assert offer.explanation.passed_over == ("a",)
    assert not offer.explanation.offered_again


def test_no_answer_offers_the_contact_to_the_next_agent(lab):
    lab.queue(on_no_answer="available")
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    lab.r.ringing("a", "c1", 2)
    lab.r.no_answer("a", "c1", 17)
    assert lab.state("a") == "available"
    assert lab.offers(17) == [("c1", "b")]


def test_ring_timeout_from_tick_counts_as_a_decline(lab):
    lab.queue(ring_timeout=10)
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    assert lab.r.tick(12).no_answers == [("a", "c1")]
    assert lab.offers(12) == [("c1", "b")]


def test_failed_offer_counts_as_a_decline_unless_told_otherwise(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    lab.r.release("a", "c1", 3, reason="failed: endpoint not registered")
    assert lab.offers(3) == [("c1", "b")]
    lab.r.release("b", "c1", 4, reason="recalled", decline=False)
    # b's release was not a decline, a's failure was: b is not passed over.
    offer = offer_of(lab, 4)
    assert offer.agent == "b" and offer.explanation.passed_over == ("a",)


def test_when_every_free_agent_declined_it_goes_round_them_again(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.agent("c", login_at=2)
    lab.contact("c1", at=3)
    got = []
    for t in range(3, 11):
        offer = offer_of(lab, t)
        got.append((offer.agent, offer.explanation.offered_again))
        lab.r.reject(offer.agent, "c1", t + 0.5)
    assert got == [
        ("a", False),
        ("b", False),
        ("c", False),
        ("a", True),  # the oldest decline first: the strategy's order again
        ("b", True),
        ("c", True),
        ("a", True),
        ("b", True),
    ]


def test_single_agent_queue_keeps_working(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=0)
    for t in range(1, 4):
        assert lab.offers(t) == [("c1", "a")]
        lab.r.reject("a", "c1", t + 0.5)
    offer = offer_of(lab, 5)
    assert offer.agent == "a" and offer.explanation.offered_again
    lab.serve("c1", "a", 6, 7)
    assert lab.r.contact_state("c1") is None


def test_a_decliner_gets_it_again_until_another_agent_is_free(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c0", at=0)
    lab.r.reserve("b", "c0", 0)
    lab.r.accept("b", "c0", 0)
    lab.contact("c1", at=2)
    assert lab.offers(2) == [("c1", "a")]
    lab.r.reject("a", "c1", 3)
    assert lab.offers(3) == [("c1", "a")]  # nobody else is free
    lab.r.reject("a", "c1", 4)
    lab.r.finish("b", "c0", 5)
    assert lab.offers(5) == [("c1", "b")]


def test_declines_are_per_contact(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.contact("c2", at=3)
    assert lab.offers(3) == [("c1", "a"), ("c2", "b")]
    lab.r.reject("a", "c1", 4)
    lab.r.reject("b", "c2", 4)
    # Each is passed over for the contact they declined only.
    assert lab.offers(4) == [("c1", "b"), ("c2", "a")]


def test_declines_are_forgotten_when_the_contact_leaves(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    lab.r.reject("a", "c1", 3)
    lab.r.dequeue("c1", 3)
    lab.contact("c1", at=4)  # the same caller joins again: a new contact
    offer = offer_of(lab, 4)
    assert offer.agent == "a" and offer.explanation.passed_over == ()


def test_declines_are_forgotten_once_answered(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    lab.r.reject("a", "c1", 3)
    assert lab.offers(3) == [("c1", "b")]
    lab.serve("c1", "b", 4, 5)
    lab.contact("c1", at=6)  # a later contact with the same id
    offer = offer_of(lab, 6)
    assert offer.agent == "a" and offer.explanation.passed_over == ()


def test_declines_survive_a_skill_step_and_a_queue_update(lab):
    queue = lab.queue(
        skill_steps=[{"after": 0, "require": {"en": 50}}, {"after": 30, "require": {}}]
    )
    lab.agent("a", skills={"en": 80})
    lab.agent("b", login_at=1)  # no english: only after the step
    lab.agent("c", skills={"en": 90}, login_at=2)
    lab.contact("c1", at=3)
    assert lab.offers(3) == [("c1", "a")]
    lab.r.reject("a", "c1", 4)
    assert lab.offers(4) == [("c1", "c")]
    lab.r.reject("c", "c1", 5)
    assert lab.offers(5) == [("c1", "a")]  # only decliners qualify: the oldest again
    lab.r.reject("a", "c1", 6)
    offer = offer_of(lab, 40)  # relaxed: b qualifies and has not declined
    assert offer.agent == "b" and offer.explanation.passed_over == ("a",)  # c ranks after b
    lab.r.reject("b", "c1", 41)
    lab.r.update_queue(queue, 42)
    assert lab.offers(42) == [("c1", "c")]  # c, a, b by oldest decline


def test_a_decliner_does_not_hold_back_a_higher_penalty_agent(lab):
    lab.queue()
    lab.agent("a", queues={"q": 0})
    lab.agent("b", queues={"q": 1})
    lab.contact("c1", at=1)
    assert lab.offers(1) == [("c1", "a")]
    lab.r.reject("a", "c1", 2)
    offer = offer_of(lab, 2)
    assert (offer.agent, offer.explanation.penalty) == ("b", 1)
    lab.r.reject("b", "c1", 3)
    offer = offer_of(lab, 3)  # all declined: the lowest penalty tier again
    assert (offer.agent, offer.explanation.penalty) == ("a", 0)


def test_explanation_says_who_was_passed_over(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.agent("c", login_at=2)
    lab.contact("c1", at=3)
    lab.offers(3)
    lab.r.reject("a", "c1", 4)
    offer = offer_of(lab, 4)
    ex = offer.explanation
    assert ex.tie_break == "decided by idle since: 1 vs 2 for runner-up c"
    assert "passed over a (declined this contact)" in ex.summary()
    assert (ex.candidates, ex.tier_candidates) == (3, 2)
    logged = [e for e in lab.r.drain_events() if e.type == "contact.offer"]
    assert logged[-1].detail == ex.summary()
    lab.r.reject("b", "c1", 5)
    lab.r.reject(offer_of(lab, 5).agent, "c1", 6)
    again = offer_of(lab, 6).explanation
    assert again.offered_again and again.passed_over == ()
    assert "every free eligible agent (3) declined this contact" in again.tie_break
    assert "offered again to the oldest decline" in again.summary()


def test_explanation_without_declines_is_unchanged(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1", at=1)
    ex = offer_of(lab, 1).explanation
    assert ex.passed_over == () and not ex.offered_again
    assert "passed over" not in ex.summary() and "declined" not in ex.summary()


@pytest.mark.parametrize("strategy", [s.value for s in Strategy if s is not Strategy.RING_ALL])
def test_every_strategy_tries_each_agent_before_coming_back(make_lab, strategy):
    lab = make_lab(seed=7)
    lab.queue(strategy=strategy)
    for aid in "abcd":
        lab.agent(aid)
    lab.contact("c1", at=1)
    tried = []
    for t in range(1, 5):
        offer = offer_of(lab, t)
        assert set(offer.explanation.passed_over) <= set(tried)
        assert not offer.explanation.offered_again
        tried.append(offer.agent)
        lab.r.reject(offer.agent, "c1", t + 0.5)
    assert sorted(tried) == list("abcd")  # nobody twice while others were free
    again = offer_of(lab, 10)
    assert again.agent == tried[0] and again.explanation.offered_again
    lab.r.reject(tried[0], "c1", 11)
    assert lab.offers(11) == [("c1", tried[1])]


def test_random_is_still_repeatable_with_declines(make_lab):
    def run():
        lab = make_lab(seed=3)
        lab.queue(strategy="random")
        for aid in "abcdef":
            lab.agent(aid)
        lab.contact("c1", at=1)
        got = []
        for t in range(1, 7):
            got.append(offer_of(lab, t).agent)
            lab.r.reject(got[-1], "c1", t + 0.5)
        return got

    first = run()
    assert first == run() and sorted(first) == list("abcdef")


def test_rrmemory_skips_decliners_and_keeps_its_memory(lab):
    lab.queue(strategy="rrmemory")
    for aid in "abc":
        lab.agent(aid)
    lab.contact("c1", at=1)
    assert lab.offers(1) == [("c1", "a")]
    lab.r.reject("a", "c1", 2)
    assert lab.offers(2) == [("c1", "b")]
    lab.r.reject("b", "c1", 3)
    lab.contact("c2", at=3)
    # c1 wraps round past a and b to c; c2 continues the round after c: a.
    assert lab.offers(3) == [("c1", "c"), ("c2", "a")]


def test_ring_all_leaves_decliners_out_until_all_free_agents_declined(lab):
    """Ring-all applies the same rule to the ring group: agents who declined the contact
    are not rung while another free agent has not; once every free agent declined, the
    whole (lowest-penalty) group rings again, as app_queue's ringall retries."""
    lab.queue(strategy="ringall")
    for aid in "abc":
        lab.agent(aid)
    lab.contact("c0", at=0)
    lab.r.reserve("c", "c0", 0)
    lab.r.accept("c", "c0", 0)
    lab.contact("c1", at=1)
    assert sorted(lab.offers(1)) == [("c1", "a"), ("c1", "b")]
    lab.r.reject("a", "c1", 2)
    assert lab.r.contact_state("c1") == "offered"  # b still rings
    lab.r.no_answer("b", "c1", 16)
    assert lab.offers(16) == [("c1", "a"), ("c1", "b")]  # nobody else free: again
    lab.r.reject("a", "c1", 17)
    lab.r.reject("b", "c1", 17)
    lab.r.finish("c", "c0", 18)
    (offer,) = lab.r.next_offers(18)
    assert offer.agent == "c" and offer.explanation.passed_over == ("a", "b")
    lab.r.reject("c", "c1", 19)
    offers = lab.r.next_offers(19)
    assert sorted(o.agent for o in offers) == ["a", "b", "c"]
    assert offers[0].ring_group == ("a", "b", "c") and offers[0].explanation.offered_again


def test_direct_reservation_ignores_declines(lab):
    lab.queue()
    lab.agent("a")
    lab.agent("b", login_at=1)
    lab.contact("c1", at=2)
    lab.offers(2)
    lab.r.reject("a", "c1", 3)
    assert lab.r.reserve("a", "c1", 3).agent == "a"


async def test_service_offers_a_rejected_contact_to_the_next_agent():
    now = [0.0]
    records: list[dict] = []

    async def log(**record):
        records.append(record)

    router = Router()
    svc = RoutingService(router, log, clock=lambda: now[0])
    router.add_queue(Queue("q"))  # longest idle: a stays first in line after rejecting
    for aid in ("a", "b"):
        router.add_agent(Agent(aid, queues=("q",)))
        await svc.login(aid)
        now[0] += 1
    ticket = await svc.enqueue("c1", "voice", "q")
    first = ticket.offers.get_nowait()
    assert isinstance(first, Offer) and first.agent == "a"
    now[0] += 1
    assert await svc.rejected(first)
    second = ticket.offers.get_nowait()
    assert isinstance(second, Offer) and second.agent == "b"
    assert ticket.offers.empty() and not ticket.done
    assert second.explanation.passed_over == ("a",)
    offers = [r for r in records if r["type"] == "contact.offer"]
    assert [r["agent"] for r in offers] == ["a", "b"]
    assert "passed over a (declined this contact)" in offers[-1]["data"]["explanation"]
