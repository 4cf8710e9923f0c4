"""One contact of any channel: open -> run -> status -> close.

    contact = ContactLifecycle(store, "chat")
    contact_id = await contact.open("inbound", source="web:abc", destination="chat",
                                    customer_id=7)
    ...                                       # the channel runs the flow; its queue
    contact.run.queue_finished("answered")    # experience hands each outcome over
    ending = contact.ending(EndReason.CUSTOMER_LEFT)  # the one status table decides
    await store.append(contact_id, "chat.closed", {...})  # the channel's own end event
    await contact.close(ending)

A contact a previous controller opened is carried on with `ContactLifecycle(store,
channel, contact_id=...)` (no `open`).
"""

from __future__ import annotations

from hotline.contacts.ending import ContactRun, Ending, EndReason
from hotline.store import Store


class ContactNotOpen(RuntimeError):
    """The contact was not opened (or adopted) yet."""


class ContactLifecycle:
    """See the module docstring."""

    def __init__(self, store: Store, channel: str, *, contact_id: str | None = None) -> None:
        self.store = store
        self.channel = channel
        self._contact_id = contact_id
        self.run = ContactRun()
        self.closed: Ending | None = None

    @property
    def contact_id(self) -> str:
        if self._contact_id is None:
            raise ContactNotOpen(f"the {self.channel} contact is not open")
        return self._contact_id

    @property
    def is_open(self) -> bool:
        return self._contact_id is not None and self.closed is None

    async def open(
        self,
        direction: str,
        *,
        source: str,
        destination: str,
        customer_id: int | None = None,
        asterisk_channel: str | None = None,
        asterisk_node: str | None = None,
    ) -> str:
        """Record the contact as active; its id. `source` is the customer's side
        (their number, their chat), `destination` the hotline's (number dialed, entry)."""
        self._contact_id = await self.store.open_contact(
            self.channel,
            direction,
            source,
            destination,
            customer_id=customer_id,
            asterisk_channel=asterisk_channel,
            asterisk_node=asterisk_node,
        )
        return self._contact_id

    def ending(self, reason: EndReason) -> Ending:
        """The contact's end for `reason`, given what the run handed over."""
        return self.run.ending(reason)

    async def close(self, ending: Ending) -> None:
        """Record the final status; a second close is a no-op."""
        if self.closed is not None:
            return
        await self.store.close_contact(self.contact_id, ending.status.value)
        self.closed = ending
