"""Who dials each open callback in a cluster (hotline/cluster/callback_keeper.py): the
leader's pure decision, on the workers' heartbeats and a clock the test moves."""

from __future__ import annotations

import pytest

from hotline.cluster.callback_keeper import CallbackKeeper, Handing

NOBODY: dict[str, list[str]] = {"a": [], "b": []}


def test_an_unserved_callback_is_handed_to_one_worker_after_the_grace_then_left_to_it() -> None:
    keeper = CallbackKeeper(grace=2.5)
    # A new leader's first look: maybe a worker serves it and has not beaten yet.
    assert keeper.plan(0.0, ["cb1"], NOBODY, ["a", "b"]) == []
    assert keeper.plan(2.0, ["cb1"], NOBODY, ["a", "b"]) == []
    assert keeper.plan(2.5, ["cb1"], NOBODY, ["a", "b"]) == [
        Handing("cb1", "a", "served by no worker")
    ]
    # Handed: not again while its worker's beat is on its way ...
    assert keeper.plan(3.5, ["cb1"], NOBODY, ["a", "b"]) == []
    # ... nor once that beat says a serves it.
    assert keeper.plan(4.0, ["cb1"], {"a": ["cb1"], "b": []}, ["a", "b"]) == []
    assert keeper.plan(30.0, ["cb1"], {"a": ["cb1"], "b": []}, ["a", "b"]) == []
    assert keeper.holder == {"cb1": "a"}


def test_a_callback_a_worker_booked_itself_is_never_handed_to_another() -> None:
    keeper = CallbackKeeper(grace=2.5)
    # The store has it before the booking worker's next beat names it.
    assert keeper.plan(0.0, ["cb1"], NOBODY, ["a", "b"]) == []
    assert keeper.plan(1.0, ["cb1"], {"a": [], "b": ["cb1"]}, ["a", "b"]) == []
    assert keeper.plan(10.0, ["cb1"], {"a": [], "b": ["cb1"]}, ["a", "b"]) == []
    assert keeper.holder == {"cb1": "b"}


def test_the_callbacks_of_a_lost_worker_go_at_once_to_the_others_fewest_first() -> None:
    keeper = CallbackKeeper(grace=2.5)
    serving = {"a": ["cb1", "cb2"], "b": ["cb3"], "c": []}
    assert keeper.plan(0.0, ["cb1", "cb2", "cb3"], serving, ["a", "b", "c"]) == []
    # a is declared lost: it is no longer among the live workers.
    after = {"b": ["cb3"], "c": []}
    assert keeper.plan(1.0, ["cb1", "cb2", "cb3"], after, ["b", "c"]) == [
        Handing("cb1", "c", "its worker a is lost"),
        Handing("cb2", "b", "its worker a is lost"),
    ]


def test_a_callback_its_live_worker_stopped_serving_goes_back_to_that_worker() -> None:
    keeper = CallbackKeeper(grace=2.5)
    keeper.plan(0.0, ["cb1"], {"a": ["cb1"], "b": []}, ["a", "b"])
    # a restarted (its tasks are gone) but beats again: after the grace, a again.
    assert keeper.plan(1.0, ["cb1"], NOBODY, ["a", "b"]) == []
    assert keeper.plan(3.5, ["cb1"], NOBODY, ["a", "b"]) == [
        Handing("cb1", "a", "again to its worker")
    ]
    # a's Asterisk is down: the other one, which can dial.
    keeper = CallbackKeeper(grace=2.5)
    keeper.plan(0.0, ["cb1"], {"a": ["cb1"], "b": []}, ["a", "b"])
    assert keeper.plan(3.0, ["cb1"], NOBODY, ["b"]) == []  # unserved since 3.0
    assert keeper.plan(5.5, ["cb1"], NOBODY, ["b"]) == [
        Handing("cb1", "b", "its worker cannot dial")
    ]


def test_a_callback_in_conversation_stays_with_its_worker_until_that_one_is_lost() -> None:
    keeper = CallbackKeeper(grace=2.5)
    keeper.plan(0.0, ["cb1"], {"a": ["cb1"], "b": []}, ["a", "b"])
    # a was killed right after its last beat (its tasks no longer said): the call is
    # a's until a is declared lost.
    assert keeper.plan(5.0, ["cb1"], NOBODY, ["a", "b"], talking=["cb1"]) == []
    assert keeper.plan(9.0, ["cb1"], {"b": []}, ["b"]) == [
        Handing("cb1", "b", "its worker a is lost")
    ]


def test_callbacks_the_leader_booked_are_handed_at_once() -> None:
    keeper = CallbackKeeper(grace=2.5)
    keeper.urgent(["cb9"])
    assert keeper.plan(0.0, ["cb9"], NOBODY, ["a", "b"]) == [
        Handing("cb9", "a", "booked by the leader")
    ]


def test_a_worker_that_refuses_is_passed_over_until_the_grace_is_over() -> None:
    keeper = CallbackKeeper(grace=2.5)
    keeper.urgent(["cb1"])
    assert keeper.plan(0.0, ["cb1"], NOBODY, ["a", "b"])[0].worker == "a"
    keeper.refused("a", ["cb1"], 0.1)
    assert keeper.plan(0.2, ["cb1"], NOBODY, ["a", "b"]) == [
        Handing("cb1", "b", "worker a did not take it")
    ]
    keeper.refused("b", ["cb1"], 0.3)
    assert keeper.plan(0.4, ["cb1"], NOBODY, ["a", "b"]) == []  # both refused: kept
    assert keeper.plan(2.7, ["cb1"], NOBODY, ["a", "b"])[0].worker == "a"


def test_with_no_worker_able_to_dial_a_callback_is_kept_and_closed_ones_are_forgotten() -> None:
    keeper = CallbackKeeper(grace=0.0)
    assert keeper.plan(0.0, ["cb1", "cb2"], {"a": []}, []) == []
    assert keeper.plan(1.0, ["cb1", "cb2"], {"a": []}, ["a"]) == [
        Handing("cb1", "a", "served by no worker"),
        Handing("cb2", "a", "served by no worker"),
    ]
    assert keeper.plan(2.0, ["cb2"], {"a": ["cb2"]}, ["a"]) == []
    assert keeper.holder == {"cb2": "a"}


def test_a_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace must not be negative, got -1"):
        CallbackKeeper(grace=-1)
