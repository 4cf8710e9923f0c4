"""One agent whichever phone is registered: their SIP phone or their browser phone
(controller/devices.py)."""

from __future__ import annotations

from controller.devices import AgentPhones, web_endpoint
from hotline.config import AgentConfig


def phones(registered: set[str], browser: bool = True) -> AgentPhones:
    agents = [
        AgentConfig.model_validate({"id": "alice", "name": "Alice", "endpoint": "1001"}),
        AgentConfig.model_validate({"id": "bob", "name": "Bob", "endpoint": "1002"}),
    ]
    return AgentPhones(agents, lambda endpoint: endpoint in registered, browser)


def test_reachable_with_either_phone() -> None:
    assert not phones(set()).agent_reachable("alice")
    assert phones({"1001"}).agent_reachable("alice")
    assert phones({"1001-web"}).agent_reachable("alice")
    assert not phones({"1001-web"}).agent_reachable("bob")
    # Browser phones off: the browser's endpoint does not count (it does not exist).
    assert not phones({"1001-web"}, browser=False).agent_reachable("alice")


def test_rings_the_browser_phone_when_registered_else_the_sip_phone() -> None:
    assert phones({"1001", "1001-web"})["alice"] == "1001-web"
    assert phones({"1001"})["alice"] == "1001"
    assert phones(set())["alice"] == "1001"  # nothing registered: the ring fails as before
    assert phones({"1001-web"}, browser=False)["alice"] == "1001"
    registered: set[str] = set()
    live = phones(registered)
    assert live.get("alice") == "1001"
    registered.add("1001-web")  # asked at each ring: the device registered now counts
    assert live.get("alice") == "1001-web"
    assert live.get("nobody") is None
    assert sorted(live) == ["alice", "bob"] and len(live) == 2


def test_whose_endpoint() -> None:
    live = phones(set())
    assert live.agent_of("1002") == "bob"
    assert live.agent_of(web_endpoint("1002")) == "bob"
    assert live.agent_of("1003") is None
    assert phones(set(), browser=False).agent_of("1002-web") is None


def test_the_ringer_rings_every_registered_phone() -> None:
    assert phones({"1001", "1001-web"}).ringing("alice") == ["1001-web", "1001"]
    assert phones({"1001"}).ringing("alice") == ["1001"]
    assert phones({"1001-web"}).ringing("alice") == ["1001-web"]
    assert phones(set()).ringing("alice") == ["1001"]  # none: the ring fails as before
