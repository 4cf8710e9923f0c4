import pytest
import yaml
from pydantic import ValidationError

from hotline.acd import Channel, EmptyRule, NoAnswer, Strategy
from hotline.acd.settings import (
    AgentRouting,
    QueueSettings,
    RoutingConfigError,
    build_routing,
    check_routing,
    make_router,
    routing_warnings,
)


def queue(**data):
    return QueueSettings.model_validate(data)


def agent(**data):
    return AgentRouting.model_validate(data)


def error_text(model, data) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return str(info.value)


# ---- queues ---------------------------------------------------------------------------


def test_full_queue_from_yaml_converts_to_the_router_model():
    data = yaml.safe_load(
        """
        strategy: leastrecent
        weight: 2
        skills:
          - {after: 0, require: {english: 50}}
          - {after: 60, require: {english: 1}}
        max_length: 10
        max_wait: 600
        join_empty: no_agents
        leave_when_empty: all_paused
        wrap_up: 10
        ring_timeout: 20
        on_no_answer: pause
        music_on_hold: jazz
        announcements: {position_every: 30, eta_every: 60, periodic: [thanks], periodic_every: 45}
        leave_key: 0
        recording: on
        """
    )
    settings = queue(**data)
    assert (settings.leave_key, settings.recording) == ("0", "on")  # YAML int and bool
    assert settings.music_on_hold == "jazz"
    assert settings.announcements.periodic == ["thanks"]
    q = settings.to_queue("support")
    assert q.name == "support"
    assert q.strategy is Strategy.LONGEST_IDLE
    assert q.weight == 2
    assert [(s.after, dict(s.require)) for s in q.skill_steps] == [
        (0, {"english": 50}),
        (60, {"english": 1}),
    ]
    assert (q.max_length, q.max_wait, q.wrap_up, q.ring_timeout) == (10, 600, 10, 20)
    assert q.join_empty is EmptyRule.NO_AGENTS
    assert q.leave_when_empty is EmptyRule.ALL_PAUSED
    assert q.on_no_answer is NoAnswer.PAUSE


def test_defaults():
    settings = queue()
    assert settings.strategy is Strategy.LONGEST_IDLE
    assert settings.music_on_hold == "default"
    assert settings.recording == "off"
    assert settings.leave_key is None
    assert settings.announcements.position_every == 0
    assert settings.to_queue("q").max_wait is None


def test_unknown_strategy_lists_the_valid_ones():
    text = error_text(QueueSettings, {"strategy": "fifo"})
    assert "unknown strategy 'fifo'" in text
    for name in ("longest_idle", "least_busy", "fewest_contacts", "rrmemory", "ringall"):
        assert name in text


def test_asterisk_strategy_names_are_accepted():
    assert queue(strategy="fewestcalls").strategy is Strategy.FEWEST_CONTACTS
    assert queue(strategy="RingAll").strategy is Strategy.RING_ALL


def test_unknown_key_is_refused():
    assert "Extra inputs are not permitted" in error_text(QueueSettings, {"stratgy": "x"})


def test_skill_rules_must_increase():
    text = error_text(
        QueueSettings, {"skills": [{"after": 60, "require": {"en": 1}}, {"after": 0}]}
    )
    assert "strictly increasing 'after' (got 60, 0)" in text


def test_skill_level_out_of_range():
    text = error_text(QueueSettings, {"skills": [{"after": 0, "require": {"en": 101}}]})
    assert "less than or equal to 100" in text


def test_bad_on_no_answer_and_recording():
    assert "'available' or 'pause'" in error_text(QueueSettings, {"on_no_answer": "ignore"})
    assert "'off' or 'on'" in error_text(QueueSettings, {"recording": "sometimes"})


def test_bad_leave_key():
    assert "leave_key" in error_text(QueueSettings, {"leave_key": "12"})


def test_ring_timeout_and_max_wait_must_be_positive():
    assert "ring_timeout" in error_text(QueueSettings, {"ring_timeout": 0})
    assert "max_wait" in error_text(QueueSettings, {"max_wait": -5})


def test_periodic_announcements_need_both_prompts_and_interval():
    text = error_text(QueueSettings, {"announcements": {"periodic": ["thanks"]}})
    assert "periodic prompts need periodic_every" in text
    text = error_text(QueueSettings, {"announcements": {"periodic_every": 30}})
    assert "periodic_every is 30 s but periodic lists no prompts" in text


# ---- agents ---------------------------------------------------------------------------


def test_agent_routing_converts_with_penalties_and_capacity():
    a = agent(
        skills={"english": 80},
        queues={"support": 0, "sales": 2},
        capacity={"voice": 1, "chat": 3},
        chat_while_voice=True,
        callbacks=False,
    ).to_agent("alice")
    assert a.id == "alice"
    assert dict(a.queues) == {"support": 0, "sales": 2}
    assert dict(a.capacity) == {Channel.VOICE: 1, Channel.CHAT: 3, Channel.CALLBACK: 0}
    assert a.chat_while_voice


def test_agent_defaults_voice_and_callbacks_no_chat():
    a = agent(queues=["support"]).to_agent("bob")
    assert dict(a.queues) == {"support": 0}
    assert dict(a.capacity) == {Channel.VOICE: 1, Channel.CHAT: 0, Channel.CALLBACK: 1}


def test_agent_bad_inputs():
    assert "less than or equal to 100" in error_text(AgentRouting, {"skills": {"en": 120}})
    assert "listed more than once: a" in error_text(AgentRouting, {"queues": ["a", "b", "a"]})
    assert "less than or equal to 1" in error_text(AgentRouting, {"capacity": {"voice": 2}})
    text = error_text(AgentRouting, {"capacity": {"callback": 1}})
    assert "set `callbacks: true` or `false`" in text
    assert "Extra inputs are not permitted" in error_text(AgentRouting, {"capacity": {"sms": 1}})


# ---- cross checks ---------------------------------------------------------------------


def test_clean_config_has_no_problems():
    queues = {"support": queue(skills=[{"after": 0, "require": {"english": 50}}])}
    agents = {"alice": agent(skills={"english": 60}, queues=["support"])}
    assert check_routing(queues, agents) == []
    assert routing_warnings(queues, agents) == []


def test_agent_naming_an_unknown_queue():
    problems = check_routing({"support": queue()}, {"alice": agent(queues=["suport"])})
    assert problems == ["agent alice: queue 'suport' is not defined in queues (known: support)"]


def test_queue_no_agent_serves_is_a_warning_not_an_error():
    queues = {"support": queue(), "sales": queue()}
    agents = {"alice": agent(queues=["support"])}
    assert check_routing(queues, agents) == []
    assert routing_warnings(queues, agents) == [
        "queue sales: no agent serves it (list it in an agent's queues); "
        "contacts would wait until they time out or leave"
    ]


def test_skill_rules_that_can_never_match():
    queues = {
        "support": queue(
            skills=[
                {"after": 0, "require": {"english": 50}},
                {"after": 60, "require": {"english": 40}},
            ]
        )
    }
    agents = {
        "alice": agent(skills={"english": 30}, queues=["support"]),
        "bob": agent(skills={"french": 90}, queues=["support"]),
        # Not in the queue: does not count.
        "carol": agent(skills={"english": 90}, queues=[]),
    }
    assert check_routing(queues, agents) == [
        "queue support: no agent serving it meets the skill rules at any step: "
        "step after 0 s needs english >= 50; step after 60 s (the last) still needs "
        "english >= 40; the best its agents have is english 30 (alice): no agent could "
        "ever take a contact"
    ]


def test_multi_skill_rule_needs_one_agent_with_all_of_them():
    queues = {"vip": queue(skills=[{"after": 0, "require": {"english": 50, "billing": 50}}])}
    agents = {
        "alice": agent(skills={"english": 90}, queues=["vip"]),
        "bob": agent(skills={"billing": 90}, queues=["vip"]),
    }
    [problem] = check_routing(queues, agents)
    assert "step after 0 s needs billing >= 50, english >= 50" in problem
    assert "the best its agents have is billing 90 (bob), english 90 (alice)" in problem


def test_a_step_nobody_meets_before_relaxation_is_a_warning():
    queues = {
        "support": queue(
            skills=[
                {"after": 0, "require": {"english": 50}},
                {"after": 60, "require": {"english": 1}},
            ]
        )
    }
    agents = {"alice": agent(skills={"english": 30}, queues=["support"])}
    assert check_routing(queues, agents) == []
    assert routing_warnings(queues, agents) == [
        "queue support: no agent serving it meets the step after 0 s (needs english >= 50; "
        "the best its agents have is english 30 (alice)); contacts wait at least until the "
        "step after 60 s"
    ]


def test_no_requirement_before_the_first_step_can_always_match():
    queues = {"support": queue(skills=[{"after": 30, "require": {"english": 99}}])}
    agents = {"alice": agent(queues=["support"])}
    assert check_routing(queues, agents) == []
    assert routing_warnings(queues, agents) == [
        "queue support: no agent serving it meets the step after 30 s (needs english >= 99; "
        "the best its agents have is english 0); contacts still waiting then can never be "
        "taken"
    ]


def test_capacity_zero_everywhere():
    queues = {"support": queue()}
    agents = {"alice": agent(queues=["support"], capacity={"voice": 0}, callbacks=False)}
    assert check_routing(queues, agents) == [
        "agent alice: capacity is 0 on every channel (voice 0, chat 0, callbacks off): they "
        "could never take a contact",
        "no agent has any capacity: no contact could ever be taken",
    ]
    # ... and the queue counts as served by nobody.
    assert routing_warnings(queues, agents)[0].startswith("queue support: no agent serves it")


def test_agents_given_as_config_objects_with_an_id():
    class AgentConfig(AgentRouting):
        id: str

    agents = [AgentConfig(id="alice", queues=["nope"])]
    assert check_routing({"support": queue()}, agents) == [
        "agent alice: queue 'nope' is not defined in queues (known: support)"
    ]


def test_build_routing_refuses_errors_and_make_router_builds():
    queues = {"support": queue(wrap_up=5)}
    with pytest.raises(RoutingConfigError) as info:
        build_routing(queues, {"alice": agent(queues=["nope"])})
    assert info.value.problems == [
        "agent alice: queue 'nope' is not defined in queues (known: support)"
    ]
    router = make_router(queues, {"alice": agent(queues=["support"])})
    router.login("alice", 0)
    assert router.snapshot(0).queues[0].agents_logged_in == 1
