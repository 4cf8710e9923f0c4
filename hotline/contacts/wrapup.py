"""Wrap-up (disposition) codes for calls and notes on any contact.

A call's code comes from its queue's `wrap_up_codes` (or the chat's list, the one list
for every channel, when the queue has none); a chat gets its code when the agent closes
it. The last code given counts. A queue with `wrap_up_required: true` keeps the agent in
wrap-up after its call until the code is given (which ends the wrap-up at once) or the
queue's wrap-up time runs out: "ready" is refused meanwhile from every door (desk, API,
the phone's feature code), so no code is skipped by habit, and no agent is held forever
if they walked away.

Agents write on the contacts they handled; supervisors on any. Everything goes to the
contact event log (`contact.wrapup`, `contact.note`): nothing is stored for a refused
request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hotline.acd.model import AgentState, Channel
from hotline.acd.presence import set_ready_check
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.store import LoggedEvent, Store
from hotline.store.notes import MAX_NOTE, contact_annotations, handled_by

log = logging.getLogger(__name__)

CALL_CHANNELS = frozenset({"voice", "callback", "outbound"})


class WrapUpRefused(Exception):
    """The request cannot be done; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WrapUps:
    """Codes and notes; remembers each agent's last call to enforce required codes."""

    def __init__(
        self,
        store: Store,
        routing: RoutingService,
        queues: Mapping[str, QueueSettings],
        default_codes: Sequence[str],
    ) -> None:
        self.store = store
        self.routing = routing
        self.queues = dict(queues)
        self.default_codes = list(default_codes)
        #: agent -> (contact, queue) of their last call answered, until it gets a code.
        self._last_call: dict[str, tuple[str, str | None]] = {}
        self._unlisten = store.listen(self._on_event)
        set_ready_check(routing, self.ready_refusal)

    def close(self) -> None:
        self._unlisten()

    def codes(self, queue: str | None) -> list[str]:
        settings = self.queues.get(queue or "")
        if settings is not None and settings.wrap_up_codes is not None:
            return list(settings.wrap_up_codes)
        return list(self.default_codes)

    def required(self, queue: str | None) -> bool:
        settings = self.queues.get(queue or "")
        return settings is not None and settings.wrap_up_required

    def _on_event(self, event: LoggedEvent) -> None:
        if event.contact_id is None:
            return
        if event.type == "contact.answered" and event.agent:
            if event.data.get("channel") in CALL_CHANNELS:
                self._last_call[event.agent] = (event.contact_id, event.queue)
        elif event.type == "contact.wrapup":
            for agent, (contact_id, _queue) in list(self._last_call.items()):
                if contact_id == event.contact_id:
                    del self._last_call[agent]

    def pending(self, agent: str) -> str | None:
        """The call whose required code the agent still owes, if they are in wrap-up."""
        last = self._last_call.get(agent)
        if last is None or not self.required(last[1]):
            return None
        try:
            status = self.routing.agent_status(agent).get(Channel.VOICE)
        except RoutingError:
            return None
        if status is None or status.state != AgentState.WRAP_UP:
            return None
        return last[0]

    def pending_queue(self, agent: str) -> str | None:
        """The queue of the call `pending` names (None when nothing is owed)."""
        last = self._last_call.get(agent)
        return last[1] if last is not None and self.pending(agent) == last[0] else None

    def ready_refusal(self, agent: str) -> str | None:
        contact_id = self.pending(agent)
        if contact_id is None:
            return None
        _contact, queue = self._last_call[agent]
        return (
            f"queue {queue} requires a wrap-up code: give one for the last call "
            f"({contact_id}) to be ready"
        )

    async def _check(self, contact_id: str, agent: str | None) -> tuple[str, list[str], str | None]:
        """The contact's channel, who handled it and its queue; refused when the contact
        is unknown or (for an agent) not theirs."""
        contact = await self.store.contact(contact_id)
        if contact is None:
            raise WrapUpRefused(f"no contact {contact_id}", 404)
        agents, queue = await handled_by(self.store, contact_id)
        if agent is not None and agent not in agents:
            who = f"handled by {', '.join(agents)}" if agents else "not handled by an agent"
            raise WrapUpRefused(f"contact {contact_id} is not yours ({who})", 403)
        return contact.channel, agents, queue

    async def wrap_up(
        self, contact_id: str, code: object, by: str, agent: str | None
    ) -> dict[str, Any]:
        """Give the call `contact_id` its code. `agent`: the agent asking (None for a
        supervisor, who may code any call)."""
        if not isinstance(code, str) or not code.strip():
            raise WrapUpRefused("wrapup: code is missing (text)")
        channel, agents, queue = await self._check(contact_id, agent)
        if channel == "chat":
            raise WrapUpRefused(
                f"contact {contact_id} is a chat: its wrap-up code is given when it is closed",
                409,
            )
        if not agents:
            raise WrapUpRefused(
                f"contact {contact_id} was not handled by an agent: nothing to wrap up", 409
            )
        codes = self.codes(queue)
        if code not in codes:
            raise WrapUpRefused(
                f"unknown wrap-up code {code!r} for queue {queue}; one of: {', '.join(codes)}"
            )
        owner = agent or agents[-1]
        was_pending = self.pending(owner) == contact_id
        required = self.required(queue)
        await self.store.append(
            contact_id,
            "contact.wrapup",
            {"code": code, "by": by, "channel": channel, "required": required},
            queue,
            owner,
        )
        ended = False
        if was_pending:
            try:
                await self.routing.end_wrap_up(owner, Channel.VOICE)
                ended = True
            except (RoutingError, ValueError) as error:  # the wrap-up ended meanwhile
                log.info("wrap-up of %s not ended by the code: %s", owner, error)
        return {"contact_id": contact_id, "wrap_up": code, "wrap_up_ended": ended}

    async def add_note(
        self, contact_id: str, text: object, by: str, agent: str | None
    ) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise WrapUpRefused("notes: text is missing (a note is text)")
        if len(text) > MAX_NOTE:
            raise WrapUpRefused(f"notes: a note is at most {MAX_NOTE} characters, got {len(text)}")
        _channel, _agents, queue = await self._check(contact_id, agent)
        await self.store.append(
            contact_id, "contact.note", {"text": text, "by": by}, queue, agent or None
        )
        found = await contact_annotations(self.store, [contact_id])
        note: dict[str, Any] = found[contact_id]["notes"][-1]
        return note

    async def notes(self, contact_id: str, agent: str | None) -> dict[str, Any]:
        await self._check(contact_id, agent)
        found = (await contact_annotations(self.store, [contact_id]))[contact_id]
        return {"contact_id": contact_id, **found}
