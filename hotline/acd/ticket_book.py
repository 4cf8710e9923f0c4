"""The routing service's tickets and live offers, and what each change hands to them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from hotline.acd.decisions import Offer, Removed
from hotline.acd.model import Outcome
from hotline.acd.tickets import Ticket, Withdrawn

#: Schedules an action to run once the change's events are logged (`Outbox.then`).
Then = Callable[[Callable[[], None]], None]


class TicketBook:
    """Tickets of the contacts in a queue and the offers live for them. Whatever a
    ticket is handed goes through `then`, so it arrives only once it is logged."""

    def __init__(self, then: Then) -> None:
        self._then = then
        self._tickets: dict[str, Ticket] = {}
        #: Live offers by (contact, agent).
        self._offers: dict[tuple[str, str], Offer] = {}

    def __contains__(self, contact_id: str) -> bool:
        return contact_id in self._tickets

    def get(self, contact_id: str | None) -> Ticket | None:
        return None if contact_id is None else self._tickets.get(contact_id)

    def open(self, ticket: Ticket) -> None:
        """Keep a joined contact's ticket until its time in the queue ends."""
        self._tickets[ticket.contact_id] = ticket

    def refused(self, ticket: Ticket) -> None:
        """A ticket refused at join: it only gets its outcome."""
        self._then(partial(ticket.finish, ticket.join.outcome))

    def drop(self, contact_id: str) -> bool:
        """Forget a contact's ticket and offers without telling it (its join was not
        logged). True if it had a ticket."""
        if self._tickets.pop(contact_id, None) is None:
            return False
        self._forget_offers(contact_id)
        return True

    # ---- offers ------------------------------------------------------------------------

    def offer(self, contact_id: str | None, agent_id: str | None) -> Offer | None:
        """The live offer of a contact to an agent."""
        return self._offers.get((contact_id or "", agent_id or ""))

    def is_live(self, offer: Offer) -> bool:
        return self._offers.get((offer.contact.id, offer.agent)) is offer

    def offered(self, offer: Offer) -> None:
        """The router made `offer`: hand it to the contact's ticket."""
        contact = offer.contact.id
        self._offers[(contact, offer.agent)] = offer
        ticket = self._tickets.get(contact)
        if ticket is not None:
            self._then(partial(ticket.deliver, offer))

    def settled(self, offer: Offer) -> None:
        """The agent answered, declined or failed `offer`: it is no longer live."""
        del self._offers[(offer.contact.id, offer.agent)]

    def withdraw(self, contact_id: str, agent_id: str, reason: str) -> None:
        """The router withdrew the agent's offer: tell the ticket to stop offering it."""
        offer = self._offers.pop((contact_id, agent_id), None)
        ticket = self._tickets.get(contact_id)
        if offer is not None and ticket is not None:
            self._then(partial(ticket.deliver, Withdrawn(offer, reason)))

    # ---- the end of a contact's time in the queue --------------------------------------

    def removed(self, removed: Removed) -> None:
        """The router took the contact out: withdraw its offers, finish its ticket."""
        contact = removed.contact.id
        for agent in removed.withdrawn_from:
            self.withdraw(contact, agent, f"contact {removed.outcome.value}")
        self.end(contact, removed.outcome)

    def end(self, contact_id: str, outcome: Outcome) -> None:
        ticket = self._tickets.pop(contact_id, None)
        self._forget_offers(contact_id)
        if ticket is not None:
            self._then(partial(ticket.finish, outcome))

    def _forget_offers(self, contact_id: str) -> None:
        for key in [k for k in self._offers if k[0] == contact_id]:
            del self._offers[key]
