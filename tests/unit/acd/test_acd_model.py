import pytest

from hotline.acd import Agent, Channel, Contact, Queue, SkillStep, Strategy


def test_definitions_normalise_strings_and_lists():
    q = Queue("sales", strategy="rrmemory", skill_steps=[{"after": 0, "require": {"en": 50}}])
    assert q.strategy is Strategy.RR_MEMORY
    assert q.skill_steps == (SkillStep(0, {"en": 50}),)
    a = Agent("a", queues=["sales", "support"], capacity={"chat": 3})
    assert dict(a.queues) == {"sales": 0, "support": 0}
    assert a.capacity_for(Channel.CHAT) == 3 and a.capacity_for(Channel.VOICE) == 0
    c = Contact("c", "chat", "sales", 1.0, skills={"en": 10})
    assert c.channel is Channel.CHAT


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Queue("q", skill_steps=[SkillStep(60), SkillStep(0)]), "strictly increasing"),
        (lambda: Queue("q", wrap_up=-1), "wrap_up must be >= 0"),
        (lambda: Queue("q", ring_timeout=0), "ring_timeout must be > 0"),
        (lambda: Queue("q", max_wait=-5), "max_wait"),
        (lambda: SkillStep(-1), "after must be >= 0"),
        (lambda: SkillStep(0, {"en": 101}), "level must be an integer 0-100"),
        (lambda: Agent("a", skills={"en": -1}), "level must be an integer 0-100"),
        (lambda: Agent("a", queues={"q": -1}), "penalty"),
        (lambda: Agent("a", capacity={"chat": -2}), "capacity"),
        (lambda: Contact("c", "fax", "q", 0.0), "fax"),
        (lambda: Queue("q", strategy="fastest"), "fastest"),
    ],
)
def test_bad_definitions_say_what_is_wrong(build, message):
    with pytest.raises(ValueError, match=message):
        build()
