"""One contact lifecycle for every channel (hotline/contacts): one status table, the
queue outcome handed over."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.contacts import STATUS_OF, ContactLifecycle, ContactNotOpen, ContactRun, EndReason
from hotline.store import Store, sqlite_url
from hotline.store.records import ContactStatus


def test_every_reason_has_a_final_status() -> None:
    assert set(STATUS_OF) == set(EndReason)
    assert ContactStatus.ACTIVE not in STATUS_OF.values()


def test_leaving_unserved_is_abandoned() -> None:
    run = ContactRun()
    run.queue_finished("left")
    assert run.ending(EndReason.CUSTOMER_LEFT).status is ContactStatus.ABANDONED


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("answered", EndReason.CUSTOMER_LEFT_AFTER_AGENT),
        ("callback", EndReason.CALLBACK_BOOKED),
    ],
)
def test_leaving_after_the_queue_served_them_is_completed(outcome: str, reason: EndReason) -> None:
    run = ContactRun()
    run.queue_finished(outcome)
    ending = run.ending(EndReason.CUSTOMER_LEFT)
    assert (ending.reason, ending.status) == (reason, ContactStatus.COMPLETED)
    assert run.queue_outcomes == [outcome]


def test_an_agent_answering_counts_before_the_queue_visit_ends() -> None:
    run = ContactRun(agent_answered=True)
    assert run.ending(EndReason.CUSTOMER_LEFT).reason is EndReason.CUSTOMER_LEFT_AFTER_AGENT


def test_a_transfer_counts_before_an_agent() -> None:
    run = ContactRun(agent_answered=True, transferred=True)
    assert run.ending(EndReason.CUSTOMER_LEFT).status is ContactStatus.TRANSFERRED


def test_other_reasons_are_not_upgraded() -> None:
    run = ContactRun(agent_answered=True, callback_booked=True)
    assert run.ending(EndReason.FLOW_ERROR).status is ContactStatus.FAILED
    assert run.ending(EndReason.CHANNEL_LOST).status is ContactStatus.LOST
    assert run.ending(EndReason.FLOW_COMPLETED).status is ContactStatus.COMPLETED


async def test_open_then_close_once_with_the_decided_status(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "c.db")))
    await store.migrate()
    try:
        contact = ContactLifecycle(store, "chat")
        with pytest.raises(ContactNotOpen):
            _ = contact.contact_id
        contact_id = await contact.open("inbound", source="web:abc", destination="chat")
        assert contact.is_open
        contact.run.queue_finished("callback")
        ending = contact.ending(EndReason.CUSTOMER_LEFT)
        await contact.close(ending)
        await contact.close(contact.ending(EndReason.FLOW_ERROR))  # no-op
        stored = await store.contact(contact_id)
        assert stored is not None and stored.status == "completed"
        assert contact.closed == ending and not contact.is_open
    finally:
        await store.close()
