"""Outbound calls asked for through the web (the REST API, the desk): click-to-call and
a booked callback called by hand. Checks the request against the configuration and the
store (`outbound.py`'s rules), then has the voice side place it (`Placer`).

Refusals are `CallControlError`s with their HTTP status and a clear text, and nothing is
placed, written or changed: 400 a bad body or a number the dial rules refuse, 403 an
agent calling as someone else or for a queue they do not serve, 404 an unknown agent,
queue, customer or callback, 409 an agent who cannot take a call now (offline, paused,
on a call), a customer with no phone number, a callback not open or already being called.
"""

from __future__ import annotations

import contextlib

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import COMPLETED, AttemptResult, CallbackService
from hotline.calls.errors import BadCommand, CallControlError, Conflict, NotFound
from hotline.calls.outbound import (
    Callee,
    OutboundResult,
    OutboundRules,
    Placer,
    acting_agent,
    parse_outbound,
)
from hotline.store import Store


class OutboundCalls:
    """See the module docstring."""

    def __init__(
        self,
        rules: OutboundRules,
        placer: Placer,
        store: Store,
        callbacks: CallbackService | None = None,
    ) -> None:
        self.rules = rules
        self.placer = placer
        self.store = store
        self.callbacks = callbacks

    def options(self, asker: str | None) -> dict[str, object]:
        """What the desk offers: the queues an agent calls out for (their own, the
        first by default); every queue for a supervisor, who names the agent."""
        if asker is None:
            return {"agent": None, "queues": sorted(self.rules.caller_ids)}
        return {"agent": asker, "queues": list(self.rules.agent_queues.get(asker, ()))}

    async def call(self, body: object, *, asker: str | None, by: str) -> str:
        """Click-to-call: the contact id of the call placed. `asker`: the agent who
        asks (None: a supervisor or the API token, who names the agent); `by`: who
        asks, as logged."""
        request = parse_outbound(body)
        agent = acting_agent(request.agent, asker)
        number, customer_id, name = await self._callee(request.to)
        plan = self.rules.plan(agent, request.queue, number)
        return await self.placer.place(
            plan, to=str(request.to), by=by, customer_name=name, customer_id=customer_id
        )

    async def _callee(self, to: Callee) -> tuple[str, int | None, str | None]:
        """The number to dial, the customer's id and name when known."""
        if to.kind == "customer":
            customer = await self.store.customer(int(to.value))
            if customer is None:
                raise NotFound(f"no customer {to.value}")
            if not customer.phone:
                raise Conflict(f"customer {to.value} has no phone number on record")
            return customer.phone, customer.id, customer.display_name
        with contextlib.suppress(ValueError):  # not a number the customer records take
            known = await self.store.customer_for_phone(to.value, create=False)
            if known is not None:
                return to.value, known.id, known.display_name
        return to.value, None, None

    async def call_callback(
        self, contact_id: str, body: object, *, asker: str | None, by: str
    ) -> str:
        """A booked callback called now, by hand: the same call, on the callback's own
        contact; the callback is completed, retried or failed by how it went."""
        if self.callbacks is None:
            raise NotFound("this Hotline books no callbacks")
        named = _agent_only(body)
        agent = acting_agent(named, asker)
        callback = await self.callbacks.rows.get(contact_id)
        if callback is None:
            raise NotFound(f"no callback {contact_id!r}")
        if not callback.open:
            raise Conflict(f"callback {contact_id} is {callback.state}, not open")
        plan = self.rules.plan(agent, callback.queue, callback.number)
        self.placer.check(agent)  # before the callback leaves its queue
        try:
            await self.callbacks.claim(contact_id, agent)
        except LookupError as gone:
            raise Conflict(str(gone).strip("'\"")) from None
        except CallbackRefused as busy:
            raise Conflict(str(busy)) from None
        service = self.callbacks
        settings = service.queues.get(callback.queue)
        min_talk = settings.min_talk_seconds if settings is not None else 0.0

        async def ended(result: OutboundResult) -> None:
            outcome = result.outcome
            if outcome == "answered" or outcome == "transferred":
                talk = result.talk_seconds or 0.0
                outcome = COMPLETED if talk >= min_talk else "short"
            detail = {"talk_seconds": result.talk_seconds, "ended_by": result.ended_by}
            await service.by_hand_ended(
                contact_id,
                AttemptResult(outcome, result.agent, {"by_hand": True, **detail}),
                dialed=result.dialed,
            )

        customer = None
        own = await self.store.contact(contact_id)
        if own is not None and own.customer_id is not None:
            customer = await self.store.customer(own.customer_id)
        try:
            return await self.placer.place(
                plan,
                to=f"number:{callback.number}",
                by=by,
                customer_name=customer.display_name if customer is not None else None,
                contact_id=contact_id,
                ring_seconds=settings.ring_seconds if settings is not None else None,
                on_end=ended,
            )
        except CallControlError:
            # Nothing was placed: back in its queue, at its place, no attempt counted.
            await service.by_hand_ended(
                contact_id, AttemptResult("not_placed", agent), dialed=False
            )
            raise


def _agent_only(body: object) -> str | None:
    """The body of a callback called by hand: nothing, or {"agent": "<id>"}."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise BadCommand('the body must be a JSON object ({"agent": "<id>"} or nothing)')
    unknown = sorted(str(k) for k in body if k != "agent")
    if unknown:
        raise BadCommand(f"calling a callback takes only 'agent' (unknown: {', '.join(unknown)})")
    agent = body.get("agent")
    if agent is not None and not isinstance(agent, str):
        raise BadCommand('"agent" must be an agent id')
    return agent
