"""`/api/health` on a web process: PostgreSQL, NATS and the leader's heartbeat."""

from __future__ import annotations

from hotline.cluster.web_health import NATS_DOWN, WebHealth
from hotline.service_health import DATABASE, ROUTING


def test_all_fine_is_ok() -> None:
    said = WebHealth("b", [], True, "lead", 3).answer()
    assert said == {
        "ok": True,
        "role": "web",
        "process": "b",
        "ari": False,
        "database": True,
        "nats": True,
        "leader": {"ok": True, "name": "lead", "epoch": 3},
        "problems": [],
    }


def test_the_database_unreachable_is_not_ok_and_says_so() -> None:
    said = WebHealth("b", [DATABASE], True, "lead", 3).answer()
    assert not said["ok"] and not said["database"] and said["nats"] and said["leader"]["ok"]
    assert said["problems"] == [DATABASE]


def test_nats_down_is_not_ok_and_says_so() -> None:
    said = WebHealth("b", [], False, "lead", 3).answer()
    assert not said["ok"] and not said["nats"] and said["database"]
    assert said["problems"] == [NATS_DOWN]


def test_a_silent_leader_is_not_ok() -> None:
    said = WebHealth("b", [ROUTING], True, "lead", 3).answer()
    assert not said["ok"] and not said["leader"]["ok"] and said["leader"]["name"] == "lead"
    assert said["problems"] == [ROUTING]


def test_no_leader_heard_yet_is_not_ok() -> None:
    said = WebHealth("b", [], True, "", 0).answer()
    assert not said["ok"] and said["leader"] == {"ok": False, "name": None, "epoch": 0}


def test_everything_down_says_each() -> None:
    said = WebHealth("b", [DATABASE, ROUTING], False, "", 0).answer()
    assert not said["ok"]
    assert said["problems"] == [DATABASE, ROUTING, NATS_DOWN]
