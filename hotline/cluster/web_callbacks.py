"""Callbacks booked on a web process (`hotline web`): a chat's callback offer taken by
its customer, or a chat left unanswered whose queue lists abandoned customers.

A web process has no Asterisk and no dialer: it only books. The callback is written to
the store with the contact's place (its entry time and priority, as on one box), and
the chat leaves its queue. The routing leader then hands the open callback, which no
call worker serves yet, to one live call worker (hotline/cluster/callback_keeper.py,
after its grace of about 2.5 s); that worker's callback service (`adopt`) joins it to
its queue at that place, by its stored entry time, and dials it in its turn. Until
then the callback is in no queue: an agent freed in those seconds may be offered a
contact that came later.
"""

from __future__ import annotations

from hotline.acd.service import Ticket
from hotline.callbacks.service import CallbackService
from hotline.store.callbacks import Callback


class BookedForWorkers(CallbackService):
    """A callback service that books and never dials (module docstring); never
    `start`ed, so nothing is served here."""

    async def _join(self, callback: Callback, entered: float | None = None) -> Ticket | None:
        """Not here: the call worker the leader hands it to joins it, at its place."""
        return None
