from hotline.acd.skills import meets, requirement, step_index

STEPS = [{"after": 0, "require": {"english": 50}}, {"after": 60, "require": {"english": 1}}]


def test_step_in_force_and_merge_with_contact_skills():
    from hotline.acd import Queue

    steps = Queue("q", skill_steps=STEPS).skill_steps
    assert [step_index(steps, t) for t in (0, 59.9, 60, 1e6)] == [0, 0, 1, 1]
    assert requirement(steps, 0, {"billing": 30}) == (("billing", 30), ("english", 50))
    assert requirement(steps, 1, {"english": 20}) == (("english", 20),)
    assert requirement(steps, -1, {"x": 0}) == ()
    assert meets({"english": 50}, (("english", 50),))
    assert not meets({}, (("english", 1),))


def test_relaxation_lets_a_less_skilled_agent_take_the_contact_after_the_step(lab):
    lab.queue(skill_steps=STEPS)
    lab.agent("novice", skills={"english": 10})
    lab.contact("c1", at=100)
    assert lab.offers(100) == []
    assert lab.offers(159) == []
    assert lab.offers(160) == [("c1", "novice")]
    relax = [e for e in lab.r.drain_events() if e.type == "contact.relax"]
    assert [(e.contact, e.detail, e.at) for e in relax] == [("c1", "english>=1", 160)]


def test_relaxation_counts_from_first_entry_for_callbacks(lab):
    lab.queue(skill_steps=STEPS)
    lab.agent("novice", skills={"english": 10})
    lab.contact("cb", at=0, now=100, channel="callback")  # waited 100 s already
    assert lab.offers(100) == [("cb", "novice")]


def test_tick_also_relaxes(lab):
    lab.queue(skill_steps=STEPS)
    lab.agent("novice", skills={"english": 10})
    lab.contact("c1", at=0)
    lab.r.tick(61)
    assert lab.offers(61) == [("c1", "novice")]


def test_agent_without_the_skill_never_qualifies(lab):
    lab.queue(skill_steps=STEPS)
    lab.agent("nobody")
    lab.contact("c1", at=0)
    assert lab.offers(1000) == []


def test_contact_skills_are_hard_requirements(lab):
    lab.queue(skill_steps=STEPS)
    lab.agent("en", skills={"english": 90})
    lab.agent("fr", skills={"english": 60, "french": 70})
    lab.contact("french-caller", at=0, skills={"french": 50})
    assert lab.offers(1) == [("french-caller", "fr")]


def test_a_contact_nobody_free_can_serve_does_not_block_those_behind(lab):
    lab.queue()
    lab.agent("en", skills={"english": 90})
    lab.contact("needs-german", at=0, skills={"german": 10})
    lab.contact("any", at=5)
    offers = lab.r.next_offers(6)
    assert [(o.contact.id, o.agent) for o in offers] == [("any", "en")]
    assert "contacts ahead of it have no free agent" in offers[0].explanation.contact_choice
    assert lab.r.position("needs-german") == 1


def test_skill_changes_at_runtime_reindex_the_agent(lab):
    from hotline.acd import Agent

    lab.queue(skill_steps=STEPS)
    lab.agent("a", skills={"english": 10})
    lab.contact("c1", at=0)
    assert lab.offers(1) == []
    lab.r.update_agent(Agent("a", skills={"english": 70}, queues=["q"]), 2)
    assert lab.offers(2) == [("c1", "a")]
