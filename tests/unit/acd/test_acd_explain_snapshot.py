def test_every_offer_is_explained_and_logged(lab):
    lab.queue(skill_steps=[{"after": 0, "require": {"en": 20}}])
    lab.agent("a", skills={"en": 50})
    lab.agent("b", skills={"en": 50}, login_at=3)
    lab.contact("c1", at=5, priority=2)
    (offer,) = lab.r.next_offers(5)
    ex = offer.explanation
    assert (ex.queue, ex.strategy, ex.requirement) == ("q", "longest_idle", "en>=20")
    assert (ex.candidates, ex.tier_candidates, ex.penalty) == (2, 2, 0)
    assert ex.tie_break == "decided by idle since: 0.0 vs 3 for runner-up b"
    assert "priority 2, entered 5" in ex.contact_choice
    logged = [e for e in lab.r.drain_events() if e.type == "contact.offer"]
    assert len(logged) == 1 and logged[0].detail == ex.summary()
    assert "strategy longest_idle" in ex.summary()


def test_snapshot_for_the_wallboard(lab):
    lab.queue(default_handle_time=60)
    lab.agent("a", capacity={"voice": 1, "chat": 2})
    lab.agent("b")
    lab.r.pause("b", "training", 1)
    lab.contact("c1", at=2)
    lab.contact("c2", at=4)
    lab.contact("vip", at=8, priority=5)
    lab.offers(10)
    snap = lab.r.snapshot(10)
    (q,) = snap.queues
    assert (q.name, q.waiting, q.offered, q.longest_wait) == ("q", 2, 1, 8)
    # a is reserved for a call (no chats during calls); b is paused.
    assert (q.agents_logged_in, q.agents_free, q.agents_paused) == (2, 0, 1)
    assert q.eta_new == {"callback": None, "chat": 60 * 3 / 2, "voice": 60 * 3 / 1}
    assert q.outcomes == {"joined": 3}
    a = next(x for x in snap.agents if x.id == "a")
    assert a.channels["voice"].state == "reserved"
    assert (a.channels["chat"].state, a.channels["chat"].capacity) == ("available", 2)
    b = next(x for x in snap.agents if x.id == "b")
    assert b.channels["voice"].reason == "training"
