"""Turning a new call away over ARI, as the overload admission decided
(hotline/overload.py): the cheapest clean answer first. With `busy` or `congestion`,
`max_calls` and `max_rate` are the dialplan's own (dialplan/extensions.conf.j2): those
callers never reach Stasis, the controller is only told (`turned_away_at_door`); what
is left here is the latency signals, a race at the limit, and the `message` answer.

- `busy`: the channel is hung up unanswered with cause 17 (user busy): SIP 486, one
  request to Asterisk and nothing else — no contact, no flow, no store write;
- `congestion`: the same with cause 34 (no circuit): SIP 503;
- `message`: answered, the configured prompt played, then hung up.

The ARI round trips the decision reads are measured by the client
(`AriClient.round_trips`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from ari_app.client import AriClient, AriError
from ari_app.voice_port import VoicePort
from hotline.flows.port import CallerGone, Prompt
from hotline.overload import Admission, Reason

log = logging.getLogger(__name__)

#: The hang-up reason (ARI's name for a Q.850 cause) of each unanswered refusal.
HANGUP_REASON = {"busy": "busy", "congestion": "congestion"}


class TurnAway:
    """Answers the calls the admission refuses (see the module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        admission: Admission,
        port_for: Callable[[str], contextlib.AbstractContextManager[VoicePort]],
        language: str,
    ) -> None:
        self.ari = ari
        self.admission = admission
        #: A voice port for the refused channel, its events routed to it while open
        #: (the `message` answer waits for its prompt to end).
        self.port_for = port_for
        self.language = language
        self._last_warning = 0.0

    def refuse(self) -> Reason | None:
        """The admission's decision for a new call (None: admit it)."""
        return self.admission.decide()

    async def turn_away(self, channel_id: str, reason: Reason) -> None:
        """Give the refused caller the configured answer; never raises."""
        settings = self.admission.settings
        self._warn(reason)
        try:
            if settings.answer in HANGUP_REASON:
                await self.ari.hangup(channel_id, reason=HANGUP_REASON[settings.answer])
                return
            with self.port_for(channel_id) as port:
                await port.answer()
                await port.play(
                    [Prompt(key=settings.message)], language=self.language, barge_in=False
                )
                await port.hangup()
        except CallerGone:
            return
        except AriError as error:  # the caller left meanwhile, or Asterisk is gone
            log.info("refused call %s: %s", channel_id, error)

    def turned_away_at_door(self, reason: str) -> None:
        """The dialplan turned a caller away (told over AMI): counted and said."""
        self.admission.turned_away_at_door(reason)
        self._warn(reason, where="in the dialplan")

    def _warn(self, reason: str, where: str = "over ARI") -> None:
        """One warning line a minute at most while calls are turned away."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            log.warning(
                "overload: turning new calls away %s (%s; %d so far, answer %s)",
                where,
                reason,
                self.admission.refused_total,
                self.admission.settings.answer,
            )
