"""Supervisors monitoring live calls over ARI (`hotline/calls/monitor.py`: the modes).

Hotline rings the supervisor's own phone (their PJSIP endpoint, `users:` in
hotline.yaml); once answered, the phone sits in a mixing bridge of its own with a
snoop channel on the agent's leg (`POST channels/{leg}/snoop`):

- listen: spy both directions (what the agent says and what the agent hears: the
  caller), whisper none;
- whisper: spy both, whisper out (into what the agent hears only);
- barge: spy both, whisper both (into what the agent hears and what goes from the agent
  into the conversation's bridge: the caller hears it too).

The conversation's own bridge is never touched, so nothing the monitoring does can
drop the call. A switch of mode makes the new snoop first, then swaps it for the old
one in the supervisor's bridge: the supervisor's phone stays up. The monitoring ends
when the supervisor hangs up, asks to stop, or the agent's leg goes (the call ended or
was transferred: the snoop goes with it); the supervisor's leg, its snoop and bridge
are hung up and destroyed then (a stop is answered once the end is logged, not once
Asterisk is done with them: `CallMonitors._end`). Every step is in the contact's event
log: monitor.started, monitor.changed, monitor.ended (with the seconds in each mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ari_app.call_control import AriCallControl
from ari_app.client import AriClient, AriError, AriEvent, AriNotFound
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import originate
from ari_app.voice_port import Emit
from hotline.calls import Conflict, NotFound
from hotline.calls.monitor import EndReason, Mode, ModeClock, MonitorState, TellAgent
from hotline.config import HotlineConfig

log = logging.getLogger(__name__)

#: The snoop's whisper direction per mode (it always spies both directions).
WHISPER: dict[Mode, str] = {"listen": "none", "whisper": "out", "barge": "both"}

#: How the ids of a monitoring's channels and bridge begin (recovery: never carried over).
MONITOR_PREFIX = "mon-"

#: The Stasis arguments of the supervisor's leg and of snoop channels.
STASIS_ARGS = "monitor"

#: What the agent hears when monitoring starts, where the config says to tell them.
BEEP = "sound:beep"

#: How often a ringing supervisor's phone checks the call is still there.
RINGING_CHECK = 0.5

#: How long a new snoop channel may take to enter Stasis.
SNOOP_SECONDS = 5.0

Notify = Callable[[str, dict[str, Any]], None]


class SupervisorPhones(Mapping[str, str]):
    """Who may be rung to monitor: supervisor -> the PJSIP endpoint to ring now.

    Supervisors and admins with a phone of their own (`users: endpoint`); a team lead
    (an agent with `role: supervisor`) is rung as their calls are (`agent_phones`,
    controller/devices.py): the desk's browser phone when it is registered (they are at
    the desk), else their SIP phone. Asked at each monitoring."""

    def __init__(
        self, users: Mapping[str, str], leads: Iterable[str], agent_phones: Mapping[str, str]
    ) -> None:
        """`users`: user id -> their endpoint; `leads`: team leads' agent ids."""
        self._users = dict(users)
        self._leads = [lead for lead in leads if lead not in self._users]
        self._agent_phones = agent_phones

    @classmethod
    def of(cls, config: HotlineConfig, agent_phones: Mapping[str, str]) -> SupervisorPhones:
        return cls(
            {u.id: u.endpoint for u in config.users if u.endpoint},
            [a.id for a in config.agents if a.role == "supervisor"],
            agent_phones,
        )

    def __getitem__(self, supervisor: str) -> str:
        if supervisor in self._users:
            return self._users[supervisor]
        if supervisor in self._leads:
            return self._agent_phones[supervisor]
        raise KeyError(supervisor)

    def __iter__(self) -> Iterator[str]:
        return iter([*self._users, *self._leads])

    def __len__(self) -> int:
        return len(self._users) + len(self._leads)


class _Gone(Exception):
    """A channel the monitoring needs went away (`reason`: why it ends)."""

    def __init__(self, reason: EndReason) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Command:
    kind: str  # "mode" or "stop"
    mode: Mode | None
    by: str
    done: asyncio.Future[None]


@dataclass
class Monitor:
    """One supervisor monitoring one call."""

    id: str
    contact_id: str
    supervisor: str
    agent: str
    agent_leg: str
    phone: str  # the supervisor's PJSIP endpoint
    emit: Emit  # the contact's event log
    clock: ModeClock
    state: str = "ringing"  # ringing, connected, ended
    snoop: str | None = None
    inbox: asyncio.Queue[AriEvent | _Command] = field(default_factory=asyncio.Queue)
    #: Channels that entered Stasis or went (set on their first such event).
    settled: dict[str, asyncio.Event] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)  # every channel followed
    #: Who asked to stop, answered once the end is logged (the hang-ups under way).
    stopping: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def leg(self) -> str:
        return f"{self.id}-phone"

    @property
    def bridge(self) -> str:
        return f"{self.id}-bridge"


class CallMonitors:
    """The monitorings of this controller's live calls (`hotline.calls.Monitoring`)."""

    def __init__(
        self,
        ari: AriClient,
        calls: AriCallControl,
        phones: Mapping[str, str],
        followed: MutableMapping[str, Callable[[AriEvent], None]],
        *,
        tell_agent: TellAgent = "no",
        notify: Notify | None = None,
        ring_seconds: float = 30.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ari = ari
        self.calls = calls
        #: supervisor (web user id) -> the PJSIP endpoint of their phone, asked at each
        #: monitoring (a team lead's browser phone may have registered since)
        self.phones = phones
        #: The Stasis app's routing of other channels' events (StasisApp.followed).
        self.followed = followed
        self.tell_agent = tell_agent
        #: Pushes a frame to an agent's desk (the "you are monitored" notice).
        self.notify = notify
        self.ring_seconds = ring_seconds
        self.now = now
        self.by_contact: dict[str, Monitor] = {}
        self.by_supervisor: dict[str, str] = {}  # supervisor -> contact id
        self._tasks: set[asyncio.Task[None]] = set()

    # Monitoring

    def of_contact(self, contact_id: str) -> MonitorState | None:
        monitor = self.by_contact.get(contact_id)
        return None if monitor is None else self._state(monitor)

    def all(self) -> list[MonitorState]:
        return [self._state(m) for m in self.by_contact.values()]

    async def monitor(self, contact_id: str, supervisor: str, mode: Mode) -> MonitorState:
        current = self.by_contact.get(contact_id)
        if current is not None and current.supervisor == supervisor:
            if current.clock.mode != mode:
                await self._command(current, "mode", mode, supervisor)
            return self._state(current)
        call = self.calls.calls.get(contact_id)
        if call is None:
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        if current is not None:
            raise Conflict(f"contact {contact_id} is already monitored by {current.supervisor}")
        other = self.by_supervisor.get(supervisor)
        if other is not None:
            raise Conflict(f"{supervisor} is already monitoring contact {other}; stop that first")
        phone = self.phones.get(supervisor)
        if phone is None:
            raise Conflict(
                f"{supervisor} has no phone to monitor on: give them an endpoint "
                "(users: ... endpoint:) in hotline.yaml"
            )
        if call.transfer is not None:
            raise Conflict(f"contact {contact_id} is being transferred")
        monitor = Monitor(
            id=f"{MONITOR_PREFIX}{uuid.uuid4().hex[:12]}",
            contact_id=contact_id,
            supervisor=supervisor,
            agent=call.agent,
            agent_leg=call.leg,
            phone=phone,
            emit=call.emit,
            clock=ModeClock(mode),
        )
        self.by_contact[contact_id] = monitor
        self.by_supervisor[supervisor] = contact_id
        self._follow(monitor, monitor.leg)
        try:
            await originate(
                self.ari,
                endpoint=f"PJSIP/{phone}",
                leg=monitor.leg,
                args=STASIS_ARGS,
                originator=None,
                ring_seconds=self.ring_seconds,
                caller_id=f'"{mode.title()} {call.agent}" <{contact_id[:8]}>',
            )
        except AriError as error:
            self._forget(monitor)
            raise Conflict(f"cannot ring {supervisor}'s phone ({phone}): {error}") from None
        await monitor.emit(
            "monitor.started",
            {"supervisor": supervisor, "agent": call.agent, "mode": mode, "phone": phone},
        )
        log.info("contact=%s monitored by %s (%s), ringing %s", contact_id, supervisor, mode, phone)
        task = asyncio.create_task(self._run(monitor), name=f"monitor-{contact_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return self._state(monitor)

    async def stop(self, contact_id: str, by: str) -> MonitorState:
        monitor = self.by_contact.get(contact_id)
        if monitor is None:
            raise NotFound(f"contact {contact_id} is not being monitored")
        await self._command(monitor, "stop", None, by)
        return self._state(monitor)

    async def close(self) -> None:
        """End every monitoring (the controller stops)."""
        for monitor in list(self.by_contact.values()):
            with contextlib.suppress(NotFound, Conflict):
                await self._command(monitor, "stop", None, "shutdown")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    # One monitoring's life, in its own task

    async def _run(self, monitor: Monitor) -> None:
        reason: EndReason = "failed"
        try:
            reason = await self._serve(monitor)
        except _Gone as gone:
            reason = gone.reason
        except Conflict as refused:
            log.info(
                "contact=%s monitoring by %s: %s", monitor.contact_id, monitor.supervisor, refused
            )
        except AriError as error:
            reason = "failed"
            if isinstance(error, AriNotFound) or monitor.agent_leg in monitor.gone:
                reason = "call_ended"
            log.info(
                "contact=%s monitoring by %s: %s", monitor.contact_id, monitor.supervisor, error
            )
        except Exception:
            log.exception("contact=%s monitoring failed", monitor.contact_id)
        finally:
            await self._end(monitor, reason)

    async def _serve(self, monitor: Monitor) -> EndReason:
        deadline = self.now() + self.ring_seconds
        while True:
            wait = None
            if monitor.state == "ringing":  # the call may end while the phone rings
                wait = max(0.0, min(deadline - self.now(), RINGING_CHECK))
            try:
                message = await asyncio.wait_for(monitor.inbox.get(), wait)
            except TimeoutError:
                call = self.calls.calls.get(monitor.contact_id)
                if call is None or call.leg != monitor.agent_leg:
                    return "call_ended"
                if self.now() >= deadline:
                    return "no_answer"
                continue
            if isinstance(message, _Command):
                if message.kind == "stop":
                    monitor.stopping.append(message.done)
                    return "stopped"
                assert message.mode is not None
                try:
                    await self._switch(monitor, message.mode)
                except Conflict as refused:  # nothing changed: it goes on as it was
                    message.done.set_exception(refused)
                    continue
                except _Gone:
                    message.done.set_exception(
                        NotFound(f"contact {monitor.contact_id}'s call has ended")
                    )
                    raise
                except Exception as error:
                    message.done.set_exception(Conflict(f"the monitoring ended: {error}"))
                    raise
                message.done.set_result(None)
                continue
            channel, kind = channel_of(message), message["type"]
            if channel == monitor.leg:
                if kind == "StasisStart" and monitor.state == "ringing":
                    await self._connect(monitor)
                elif kind in GONE_EVENTS:
                    return "no_answer" if monitor.state == "ringing" else "hung_up"
            elif channel == monitor.snoop and kind in GONE_EVENTS:
                return "call_ended"

    async def _connect(self, monitor: Monitor) -> None:
        """The supervisor answered: into their bridge, with a snoop on the agent's leg."""
        await self.ari.request(
            "POST", "bridges", params={"type": "mixing", "bridgeId": monitor.bridge}
        )
        await self.ari.request(
            "POST", f"bridges/{monitor.bridge}/addChannel", params={"channel": monitor.leg}
        )
        monitor.snoop = await self._snoop(monitor, monitor.clock.mode)
        await self.ari.request(
            "POST", f"bridges/{monitor.bridge}/addChannel", params={"channel": monitor.snoop}
        )
        monitor.state = "connected"
        monitor.clock.connect(self.now())
        log.info(
            "contact=%s %s connected (%s)",
            monitor.contact_id,
            monitor.supervisor,
            monitor.clock.mode,
        )
        await self._tell_agent(monitor, on=True)

    async def _switch(self, monitor: Monitor, mode: Mode) -> None:
        previous = monitor.clock.mode
        if mode == previous:
            return
        if monitor.state == "connected":
            snoop = await self._snoop(monitor, mode)
            old, monitor.snoop = monitor.snoop, snoop
            if old is not None:
                # Out before the new one is in: the new snoop must not whisper the old
                # one's audio back into the call. Out of the bridge, then hung up
                # (`_clean_up`: a snoop is hung up in no bridge with the supervisor).
                with contextlib.suppress(AriError):
                    await self.ari.request(
                        "POST", f"bridges/{monitor.bridge}/removeChannel", params={"channel": old}
                    )
                with contextlib.suppress(AriError):
                    await self.ari.hangup(old)
            await self.ari.request(
                "POST", f"bridges/{monitor.bridge}/addChannel", params={"channel": snoop}
            )
        monitor.clock.switch(mode, self.now())
        await monitor.emit(
            "monitor.changed",
            {
                "supervisor": monitor.supervisor,
                "agent": monitor.agent,
                "mode": mode,
                "previous": previous,
            },
        )
        if monitor.state == "connected":
            self._push(monitor, on=True)
        log.info("contact=%s %s: %s -> %s", monitor.contact_id, monitor.supervisor, previous, mode)

    async def _snoop(self, monitor: Monitor, mode: Mode) -> str:
        """A new snoop channel on the agent's leg, in Stasis (its id)."""
        snoop = f"{monitor.id}-snoop-{uuid.uuid4().hex[:6]}"
        self._follow(monitor, snoop)
        try:
            await self.ari.request(
                "POST",
                f"channels/{monitor.agent_leg}/snoop",
                params={
                    "spy": "both",
                    "whisper": WHISPER[mode],
                    "app": self.ari.app,
                    "appArgs": STASIS_ARGS,
                    "snoopId": snoop,
                },
            )
        except AriNotFound:  # the agent's leg is gone: the call ended
            raise _Gone("call_ended") from None
        except AriError as error:
            raise Conflict(f"cannot listen to {monitor.agent}'s call: {error}") from None
        try:
            await asyncio.wait_for(monitor.settled[snoop].wait(), SNOOP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(AriError):
                await self.ari.hangup(snoop)
            raise Conflict("the snoop channel did not start") from None
        if snoop in monitor.gone:
            raise _Gone("call_ended")
        return snoop

    async def _end(self, monitor: Monitor, reason: EndReason) -> None:
        """Log how it went, answer who asked to stop, forget it; hang up what it made.

        The monitoring is over once it ends here: the supervisor's stop is answered
        once its end is logged, not once Asterisk has hung up its channels and removed
        its bridge (`_clean_up`, under way meanwhile: a loaded Asterisk may take
        seconds over it). This task waits for that clean-up (`close` waits for it)."""
        was_connected = monitor.state == "connected"
        monitor.state = "ended"
        monitor.clock.stop(self.now())
        cleanup = asyncio.create_task(
            self._clean_up(monitor), name=f"monitor-clean-up-{monitor.contact_id}"
        )
        self._forget(monitor)
        # Commands that came too late: the monitoring is over all the same.
        while not monitor.inbox.empty():
            message = monitor.inbox.get_nowait()
            if isinstance(message, _Command) and not message.done.done():
                if message.kind == "stop":
                    monitor.stopping.append(message.done)
                else:
                    message.done.set_exception(
                        NotFound(f"contact {monitor.contact_id}'s monitoring has ended")
                    )
        try:
            if was_connected:
                await self._tell_agent(monitor, on=False)
            with contextlib.suppress(Exception):  # the log is the store's; never mask the end
                await monitor.emit(
                    "monitor.ended",
                    {
                        "supervisor": monitor.supervisor,
                        "agent": monitor.agent,
                        "reason": reason,
                        "seconds": monitor.clock.total,
                        "modes": monitor.clock.rounded(),
                    },
                )
        finally:
            for done in monitor.stopping:
                if not done.done():
                    done.set_result(None)
            log.info(
                "contact=%s monitoring by %s ended: %s after %.1f s",
                monitor.contact_id,
                monitor.supervisor,
                reason,
                monitor.clock.total,
            )
            await cleanup

    async def _clean_up(self, monitor: Monitor) -> None:
        """Hang up the supervisor's leg, then the snoop; remove the bridge; log it.

        The leg first: a snoop whose hang-up Asterisk has begun holds its channel
        until the agent's leg next passes audio or goes (res_stasis_snoop detaches its
        audiohooks from the agent's leg: no audio there, a silent line or a phone that
        sends none, no detach), and hanging up a channel reads its bridge peer's
        channel (`ast_rtp_instance_set_stats_vars`): the supervisor's leg hung up
        beside a snoop being hung up waited for it, until the call ended or ARI's
        request timed out. So no snoop is hung up in a bridge with the leg
        (`_switch` takes the old one out of the bridge first)."""
        started = self.now()
        failed: list[str] = []
        for channel in (monitor.leg, monitor.snoop):
            if channel is not None and channel not in monitor.gone:
                try:
                    await self.ari.hangup(channel)
                except AriNotFound:
                    pass  # gone meanwhile
                except AriError as error:
                    failed.append(f"hanging up {channel}: {error}")
        try:
            await self.ari.request("DELETE", f"bridges/{monitor.bridge}")
        except AriNotFound:
            pass  # never made (the phone was not answered), or gone
        except AriError as error:
            failed.append(f"removing {monitor.bridge}: {error}")
        seconds = self.now() - started
        if failed:
            log.warning(
                "contact=%s monitoring by %s: clean-up failed after %.1f s: %s",
                monitor.contact_id,
                monitor.supervisor,
                seconds,
                "; ".join(failed),
            )
        else:
            log.info(
                "contact=%s monitoring by %s: its channels and bridge hung up in %.2f s",
                monitor.contact_id,
                monitor.supervisor,
                seconds,
            )

    # Helpers

    async def _command(self, monitor: Monitor, kind: str, mode: Mode | None, by: str) -> None:
        if monitor.state == "ended":
            raise NotFound(f"contact {monitor.contact_id}'s monitoring has ended")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        monitor.inbox.put_nowait(_Command(kind, mode, by, done))
        await done

    def _follow(self, monitor: Monitor, channel: str) -> None:
        monitor.settled[channel] = asyncio.Event()
        monitor.channels.add(channel)

        def deliver(event: AriEvent) -> None:
            kind = event["type"]
            if kind in GONE_EVENTS:
                monitor.gone.add(channel)
            if kind == "StasisStart" or kind in GONE_EVENTS:
                monitor.settled[channel].set()
            monitor.inbox.put_nowait(event)

        self.followed[channel] = deliver

    def _forget(self, monitor: Monitor) -> None:
        for channel in monitor.channels:
            self.followed.pop(channel, None)
        if self.by_contact.get(monitor.contact_id) is monitor:
            del self.by_contact[monitor.contact_id]
        if self.by_supervisor.get(monitor.supervisor) == monitor.contact_id:
            del self.by_supervisor[monitor.supervisor]

    async def _tell_agent(self, monitor: Monitor, *, on: bool) -> None:
        if on and self.tell_agent in ("beep", "desk_and_beep"):
            with contextlib.suppress(AriError):  # a beep missed is no reason to stop
                await self.ari.request(
                    "POST", f"channels/{monitor.agent_leg}/play", params={"media": BEEP}
                )
        self._push(monitor, on=on)

    def _push(self, monitor: Monitor, *, on: bool) -> None:
        if self.notify is None or self.tell_agent not in ("desk", "desk_and_beep"):
            return
        frame = {
            "type": "monitored",
            "contact_id": monitor.contact_id,
            "on": on,
            "mode": monitor.clock.mode,
            "supervisor": monitor.supervisor,
        }
        self.notify(monitor.agent, frame)

    def _state(self, monitor: Monitor) -> MonitorState:
        clock = monitor.clock
        running = 0.0 if clock.since is None else max(0.0, self.now() - clock.since)
        return MonitorState(
            contact_id=monitor.contact_id,
            supervisor=monitor.supervisor,
            agent=monitor.agent,
            mode=clock.mode,
            state=monitor.state,
            seconds=round(sum(clock.seconds.values()) + running, 1),
        )
