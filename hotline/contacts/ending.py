"""How a contact ended, for every channel: why (`EndReason`), what the channel handed
over while it ran (`ContactRun`), and the one table from the two to the contact's final
status (`STATUS_OF`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hotline.store.records import ContactStatus


class EndReason(StrEnum):
    """Why a contact ended. The values are the `reason` of voice's `call.ended`."""

    #: The flow ran to its end (a queue's agent part, a survey, a goodbye included).
    FLOW_COMPLETED = "flow_completed"
    #: The customer left (hung up, closed the chat, went quiet) before the flow's end.
    CUSTOMER_LEFT = "caller_hangup"
    #: ... after an agent had answered them: served, not abandoned.
    CUSTOMER_LEFT_AFTER_AGENT = "caller_hangup_after_agent"
    #: ... after booking a callback (as told they may): served by it.
    CALLBACK_BOOKED = "callback_booked"
    #: ... after talking to an outside transfer target: served elsewhere.
    TRANSFERRED = "transferred"
    #: No agent could take the contact (queue timeout, closed, full) and it ended there.
    NO_AGENT = "no_agent"
    #: The entry point has no flow.
    NO_FLOW = "no_flow"
    #: The flow failed.
    FLOW_ERROR = "flow_error"
    #: The channel's own machinery failed (an ARI or AGI error).
    CHANNEL_ERROR = "asterisk_error"
    #: The channel went away under the contact (Asterisk died).
    CHANNEL_LOST = "asterisk_lost"
    #: The controller stopped or restarted under the contact.
    CONTROLLER_LOST = "controller_lost"


#: The one table: why a contact ended -> its final status, for every channel.
STATUS_OF: dict[EndReason, ContactStatus] = {
    EndReason.FLOW_COMPLETED: ContactStatus.COMPLETED,
    # Left before the flow finished (reports split IVR and queue by the log).
    EndReason.CUSTOMER_LEFT: ContactStatus.ABANDONED,
    EndReason.CUSTOMER_LEFT_AFTER_AGENT: ContactStatus.COMPLETED,
    EndReason.CALLBACK_BOOKED: ContactStatus.COMPLETED,
    EndReason.TRANSFERRED: ContactStatus.TRANSFERRED,
    EndReason.NO_AGENT: ContactStatus.COMPLETED,
    EndReason.NO_FLOW: ContactStatus.FAILED,
    EndReason.FLOW_ERROR: ContactStatus.FAILED,
    EndReason.CHANNEL_ERROR: ContactStatus.FAILED,
    EndReason.CHANNEL_LOST: ContactStatus.LOST,
    EndReason.CONTROLLER_LOST: ContactStatus.LOST,
}


@dataclass(frozen=True)
class Ending:
    """A contact's end: why, and the final status that follows."""

    reason: EndReason
    status: ContactStatus


#: Queue outcomes (a flow's `queue` node) that mean the contact was served.
SERVED_BY_AGENT = "answered"
SERVED_BY_CALLBACK = "callback"


@dataclass
class ContactRun:
    """What a channel hands over while its contact runs, so its end is decided without
    reading the event log back."""

    #: Every queue visit's outcome, in order (answered, left, callback, timeout...).
    queue_outcomes: list[str] = field(default_factory=list)
    #: An agent answered the customer from a queue (the conversation may still run).
    agent_answered: bool = False
    #: A callback was booked for the customer (in a queue or by a flow's callback node).
    callback_booked: bool = False
    #: The customer was connected to an outside transfer target who answered.
    transferred: bool = False

    def queue_finished(self, outcome: str) -> None:
        """A queue visit ended with `outcome` (the queue node's outcome)."""
        self.queue_outcomes.append(outcome)
        if outcome == SERVED_BY_AGENT:
            self.agent_answered = True
        elif outcome == SERVED_BY_CALLBACK:
            self.callback_booked = True

    def ending(self, reason: EndReason) -> Ending:
        """The contact's end for `reason`: a customer who leaves after being served
        (by an agent, a booked callback, a transfer) is not counted as abandoned."""
        if reason is EndReason.CUSTOMER_LEFT:
            if self.transferred:
                reason = EndReason.TRANSFERRED
            elif self.agent_answered:
                reason = EndReason.CUSTOMER_LEFT_AFTER_AGENT
            elif self.callback_booked:
                reason = EndReason.CALLBACK_BOOKED
        return Ending(reason, STATUS_OF[reason])
