"""The worker's side of fencing: an offer from an older leader is refused.

A worker (the voice or chat side that rings an agent) keeps one `OfferFence` per
routing domain. Every offer it is asked to act on passes `check` first: the newest
epoch seen so far is remembered, and an offer made under an older epoch (by a leader
that was paused or cut off while a standby took over) is refused without ringing
anyone. The new leader re-makes the offers in flight from the event log.
"""

from __future__ import annotations

from hotline.acd.decisions import Offer


class StaleOffer(Exception):
    """An offer made by a leader that is no longer the domain's leader."""


class OfferFence:
    """The newest leader epoch a worker has seen for one routing domain."""

    def __init__(self, domain: str, epoch: int = 0) -> None:
        self.domain = domain
        self.epoch = epoch

    def saw(self, epoch: int) -> None:
        """A newer leader announced itself (or its epoch was read from the database)."""
        self.epoch = max(self.epoch, epoch)

    def check(self, offer: Offer) -> Offer:
        """`offer` if its epoch is the newest seen (then remembered); StaleOffer if older."""
        if offer.epoch < self.epoch:
            raise StaleOffer(
                f"offer of {offer.contact.id} to {offer.agent} refused: made under epoch "
                f"{offer.epoch} of routing domain {self.domain!r}, which is now at epoch "
                f"{self.epoch}"
            )
        self.saw(offer.epoch)
        return offer
