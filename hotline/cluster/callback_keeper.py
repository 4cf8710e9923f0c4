"""Who dials each open callback in a cluster (issue 20): the routing leader decides.

On a single box the one controller restores and dials every open callback. With several
call workers each would (every worker's callback service restores them all at its
start), and a callback booked by the leader (a lost node's caller) would wait for some
worker to start. So in a cluster the leader owns them:

- every call worker says in its heartbeat (once a second) which open callbacks it
  serves (its callback service's tasks and the ones being called now);
- the leader reads the open callbacks from the store and hands each one nobody serves
  to exactly one live worker whose Asterisk is up (the fewest callbacks first, then by
  name), with its fencing epoch: a worker refuses a hand-over from an older epoch; a
  worker serves a callback handed twice once (`adopt` is idempotent);
- a callback its worker no longer serves (that worker was lost, or restarted) is handed
  again: to the same worker while it is alive, else to another;
- a callback nobody serves is handed only once it has been unserved for `grace`
  seconds (default 2.5: more than two worker heartbeats), so that one a worker has just
  booked itself (a caller's key, the API, a flow) and a new leader's first look, before
  it has heard every worker, never give one callback to two workers. A callback the
  leader booked itself (a lost node's callers) is handed at once.

`CallbackKeeper.plan` is the pure decision; hotline/cluster/responder.py runs it every
second and sends the hand-overs (`adopt` on `hotline.routing.<domain>.worker.<name>`),
each logged first as `callback.handed` (worker, epoch, why) through the epoch check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Seconds a callback must have been unserved before it is handed (see above).
DEFAULT_GRACE = 2.5


@dataclass(frozen=True)
class Handing:
    """One callback handed to one worker, and why."""

    callback: str
    worker: str
    why: str


class CallbackKeeper:
    """The leader's record of who serves which open callback (module docstring)."""

    def __init__(self, grace: float = DEFAULT_GRACE) -> None:
        if grace < 0:
            raise ValueError(f"grace must not be negative, got {grace}")
        self.grace = grace
        #: The worker each callback was last handed to, or seen served by.
        self.holder: dict[str, str] = {}
        self._unserved: dict[str, float] = {}
        self._handed_at: dict[str, float] = {}
        #: Callbacks to hand at once, and why.
        self._urgent: dict[str, str] = {}
        #: Workers that refused or did not answer a hand-over: skipped until then.
        self._shunned: dict[str, float] = {}

    def urgent(self, callbacks: Iterable[str], why: str = "booked by the leader") -> None:
        """Callbacks the leader (or a web process) booked: no worker serves them yet."""
        self._urgent.update(dict.fromkeys(callbacks, why))

    def refused(self, worker: str, callbacks: Iterable[str], now: float) -> None:
        """`worker` did not take `callbacks`: another worker gets them at the next plan."""
        self._shunned[worker] = now + self.grace
        for callback in callbacks:
            if self.holder.get(callback) == worker:
                del self.holder[callback]
            self._handed_at.pop(callback, None)
            self._urgent[callback] = f"worker {worker} did not take it"

    def plan(
        self,
        now: float,
        open_callbacks: Iterable[str],
        serving: Mapping[str, Iterable[str]],
        able: Iterable[str],
        talking: Iterable[str] = (),
    ) -> list[Handing]:
        """What to hand to whom now. `open_callbacks`: the store's, in queue order;
        `serving`: each live worker's callbacks (its last heartbeat); `able`: the live
        workers that can dial now (Asterisk up); `talking`: callbacks in conversation,
        left with the worker holding the call until it ends or that worker is lost."""
        served: dict[str, list[str]] = {}
        for worker, callbacks in serving.items():
            for callback in callbacks:
                served.setdefault(callback, []).append(worker)
        candidates = [w for w in sorted(set(able)) if self._shunned.get(w, 0.0) <= now]
        load = {w: sum(1 for s in served.values() if w in s) for w in candidates}
        still_open = list(dict.fromkeys(open_callbacks))
        for gone in set(self.holder) - set(still_open):  # closed: forgotten
            self.holder.pop(gone, None)
        for table in (self._unserved, self._handed_at):
            for gone in set(table) - set(still_open):
                del table[gone]
        for gone in set(self._urgent) - set(still_open):
            del self._urgent[gone]
        handings: list[Handing] = []
        in_call = set(talking)
        for callback in still_open:
            if callback in in_call:
                continue
            workers = sorted(served.get(callback, []))
            if workers:
                self.holder[callback] = workers[0]
                self._unserved.pop(callback, None)
                self._handed_at.pop(callback, None)
                self._urgent.pop(callback, None)
                continue
            since = self._unserved.setdefault(callback, now)
            last = self._handed_at.get(callback)
            if last is not None and now - last < self.grace:
                continue  # handed just now: its worker says so at its next beat
            holder = self.holder.get(callback)
            urgent = self._urgent.get(callback)
            if holder is not None and holder in serving:
                if now - since < self.grace and not urgent:
                    continue  # between two of its tasks, or its beat is on its way
                target = holder if holder in load else self._least(load)
                why = "again to its worker" if target == holder else "its worker cannot dial"
            elif holder is not None:
                target, why = self._least(load), f"its worker {holder} is lost"
            elif urgent:
                target, why = self._least(load), urgent
            elif now - since < self.grace:
                continue  # just booked by a worker, whose beat may not have come yet
            else:
                target, why = self._least(load), "served by no worker"
            if target is None:
                continue  # no live worker can dial: kept until one can
            handings.append(Handing(callback, target, why))
            self.holder[callback] = target
            self._handed_at[callback] = now
            self._urgent.pop(callback, None)
            load[target] += 1
        return handings

    @staticmethod
    def _least(load: Mapping[str, int]) -> str | None:
        """The worker serving the fewest callbacks (then by name), None if none."""
        return min(load, key=lambda w: (load[w], w)) if load else None
