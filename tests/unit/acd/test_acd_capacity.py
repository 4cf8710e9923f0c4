import pytest

from hotline.acd import IllegalTransition


def take(lab, contact, agent, now, channel):
    lab.contact(contact, at=now, channel=channel)
    offers = lab.offers(now)
    assert offers == [(contact, agent)], offers
    lab.r.accept(agent, contact, now)


def test_chat_capacity_fills_up_then_frees(lab):
    lab.queue()
    lab.agent("a", capacity={"chat": 3})
    for i in range(3):
        take(lab, f"c{i}", "a", i, "chat")
        assert lab.state("a", "chat") == ("busy" if i == 2 else "available")
    lab.contact("c3", at=5, channel="chat")
    assert lab.offers(5) == []
    assert lab.r.agent_status("a")["chat"].load == 3
    lab.r.finish("a", "c0", 6)
    assert lab.state("a", "chat") == "available"
    assert lab.offers(6) == [("c3", "a")]


def test_one_offer_per_agent_per_call_even_with_room_for_more(lab):
    lab.queue()
    lab.agent("a", capacity={"chat": 3})
    for i in range(3):
        lab.contact(f"c{i}", at=i, channel="chat")
    assert lab.offers(3) == [("c0", "a")]
    lab.r.accept("a", "c0", 3)
    assert lab.offers(4) == [("c1", "a")]


def test_a_call_blocks_chat_offers_unless_the_agent_may_chat_during_calls(lab):
    lab.queue()
    lab.agent("strict", capacity={"voice": 1, "chat": 2})
    lab.agent("blended", capacity={"voice": 1, "chat": 2}, chat_while_voice=True, login_at=1)
    take(lab, "call1", "strict", 2, "voice")
    take(lab, "call2", "blended", 3, "voice")
    lab.contact("chat1", at=4, channel="chat")
    assert lab.offers(4) == [("chat1", "blended")]
    lab.contact("chat2", at=5, channel="chat")
    assert lab.offers(5) == []  # strict is on a call; blended has an offer pending
    lab.r.finish("strict", "call1", 6)
    assert lab.offers(6) == [("chat2", "strict")]


def test_a_pending_voice_offer_also_blocks_chat_and_one_reservation_per_call(lab):
    lab.queue()
    lab.agent("a", capacity={"voice": 1, "chat": 2}, chat_while_voice=True)
    lab.contact("call", at=0)
    lab.contact("chat", at=1, channel="chat")
    assert lab.offers(2) == [("call", "a")]  # reserved once in this call
    assert lab.offers(3) == [("chat", "a")]  # chat may come while on (or ringing for) a call


def test_calls_are_offered_during_chats_but_voice_and_callback_never_overlap(lab):
    lab.queue()
    lab.agent("a", capacity={"voice": 1, "callback": 1, "chat": 2})
    take(lab, "chat1", "a", 0, "chat")
    take(lab, "call", "a", 1, "voice")
    lab.contact("cb", at=2, channel="callback")
    assert lab.offers(2) == []
    lab.r.finish("a", "call", 3)
    assert lab.offers(3) == [("cb", "a")]


def test_finishing_a_chat_while_another_is_being_offered(lab):
    lab.queue()
    lab.agent("a", capacity={"chat": 2})
    take(lab, "c1", "a", 0, "chat")
    lab.contact("c2", at=1, channel="chat")
    assert lab.offers(1) == [("c2", "a")]
    lab.r.finish("a", "c1", 2)
    assert lab.state("a", "chat") == "reserved"
    lab.r.accept("a", "c2", 3)
    assert lab.r.agent_status("a")["chat"].load == 1


def test_direct_reserve_refuses_an_agent_at_capacity(lab):
    lab.queue()
    lab.agent("a")
    take(lab, "c1", "a", 0, "voice")
    lab.contact("c2", at=1)
    with pytest.raises(IllegalTransition, match="cannot reserve while busy"):
        lab.r.reserve("a", "c2", 1)
