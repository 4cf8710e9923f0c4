"""Contact metrics per channel: self-service containment, first-contact resolution
and repeat contacts (same customer, any channel, within the window), CSAT, transfers."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline.reports.tables import ratio

#: Contact statuses that are final (an active contact has not ended yet).
FINAL = frozenset({"completed", "abandoned", "failed", "lost", "transferred"})


@dataclass
class ChannelStats:
    contacts: int = 0
    ended: int = 0
    contained: int = 0
    identified: int = 0
    repeats: int = 0
    served: int = 0  # identified contacts an agent answered
    resolved: int = 0  # ... whose customer did not come back within the window
    transfers: int = 0
    scores: list[float] = field(default_factory=list)
    satisfied: int = 0
    #: Containment means nothing when only contacts of a queue or agent are counted.
    filtered: bool = False

    def row(self) -> dict[str, Any]:
        n = len(self.scores)
        return {
            "contacts": self.contacts,
            "contained": None if self.filtered else self.contained,
            "containment": None if self.filtered else ratio(self.contained, self.ended),
            "identified": self.identified,
            "repeats": self.repeats,
            "repeat_rate": ratio(self.repeats, self.identified),
            "served": self.served,
            "fcr": ratio(self.resolved, self.served),
            "transfers": self.transfers,
            "csat_responses": n,
            "csat_average": sum(self.scores) / n if n else None,
            "csat": ratio(self.satisfied, n),
        }


CHANNEL_COLUMNS = [
    ("contacts", "contacts", "int"),
    ("contained", "self-served", "int"),
    ("containment", "containment", "pct"),
    ("identified", "identified", "int"),
    ("repeats", "repeats", "int"),
    ("repeat_rate", "repeat %", "pct"),
    ("served", "served", "int"),
    ("fcr", "FCR", "pct"),
    ("transfers", "transfers", "int"),
    ("csat_responses", "surveys", "int"),
    ("csat_average", "CSAT avg", "num"),
    ("csat", "CSAT %", "pct"),
]


class ContactFold:
    """Contacts that started in the period, by channel. `only`: the contact ids to
    count (a queue's or an agent's), None for all."""

    def __init__(self, window: float, satisfied: int, only: set[str] | None) -> None:
        self.window = window
        self.satisfied = satisfied
        self.only = only
        self.channels: dict[str, ChannelStats] = {}
        self.counted: dict[str, str] = {}  # contact -> channel

    def stats(self, channel: str) -> ChannelStats:
        st = self.channels.get(channel)
        if st is None:
            st = self.channels[channel] = ChannelStats(filtered=self.only is not None)
        return st

    def feed(self, rows: Iterable[tuple[Any, ...]], starts: dict[int, list[float]]) -> None:
        """Contact rows (id, channel, customer, started, status, assisted, answered);
        `starts`: every contact start of each customer (sorted), around the period."""
        for cid, channel, customer, started, status, assisted, answered in rows:
            if self.only is not None and cid not in self.only:
                continue
            self.counted[cid] = channel
            st = self.stats(channel)
            st.contacts += 1
            if status in FINAL:
                st.ended += 1
                if status == "completed" and not assisted:
                    st.contained += 1
            if customer is None:
                continue
            st.identified += 1
            times = starts.get(customer, [])
            i = bisect.bisect_left(times, started)
            if i > 0 and started - times[i - 1] <= self.window:
                st.repeats += 1
            if answered:
                st.served += 1
                j = bisect.bisect_right(times, started)
                if j >= len(times) or times[j] - started > self.window:
                    st.resolved += 1

    def transfer(self, contact: str | None, channel: str | None) -> bool:
        """Count a transfer of a counted contact; False if the contact is not counted."""
        if contact not in self.counted:
            return False
        self.stats(self.counted[contact] or channel or "voice").transfers += 1
        return True

    def survey(self, contact: str | None, channel: str | None, data: dict[str, Any]) -> None:
        """survey.answered ({survey, node, answers: {question: score}}, every channel):
        its numeric scores, counted for the contact's channel."""
        if self.only is not None and contact not in self.only:
            return
        ch = self.counted.get(contact or "") or channel or "voice"
        answers = data.get("answers")
        st = self.stats(ch)
        for score in answers.values() if isinstance(answers, dict) else ():
            if isinstance(score, int | float) and not isinstance(score, bool):
                st.scores.append(float(score))
                if score >= self.satisfied:
                    st.satisfied += 1


def customer_starts(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[float]]:
    starts: dict[int, list[float]] = {}
    for customer, started in rows:
        starts.setdefault(customer, []).append(started)
    for times in starts.values():
        times.sort()
    return starts


IVR_COLUMNS = [
    ("flow", "flow", "text"),
    ("node", "node", "text"),
    ("type", "type", "text"),
    ("visits", "visits", "int"),
    ("contacts", "contacts", "int"),
    ("last_node", "ended here", "int"),
    ("hung_up", "left here", "int"),
    ("left_rate", "left %", "pct"),
    ("completed", "completed", "int"),
    ("other_end", "failed/other", "int"),
]


def ivr_rows(
    nodes: Iterable[tuple[Any, ...]], exits: Iterable[tuple[Any, ...]], channel: str | None
) -> list[dict[str, Any]]:
    """One row per flow node: how often it was entered, and how many contacts were
    last seen there, by how they ended (left = the caller hung up or closed the chat)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(flow: str, node: str) -> dict[str, Any]:
        r = rows.get((flow, node))
        if r is None:
            r = rows[(flow, node)] = {
                "flow": flow,
                "node": node,
                "type": "",
                "visits": 0,
                "contacts": 0,
                "last_node": 0,
                "hung_up": 0,
                "completed": 0,
                "other_end": 0,
            }
        return r

    for flow, node, kind, ch, visits, contacts in nodes:
        if channel is None or ch == channel:
            r = row(flow, node)
            r["type"] = kind or r["type"]
            r["visits"] += visits
            r["contacts"] += contacts
    for flow, node, ch, status, n in exits:
        if (channel is None or ch == channel) and status in FINAL:
            r = row(flow, node)
            r["last_node"] += n
            key = {"abandoned": "hung_up", "completed": "completed"}.get(status, "other_end")
            r[key] += n
    for r in rows.values():
        r["left_rate"] = ratio(r["hung_up"], r["contacts"])
    return sorted(rows.values(), key=lambda r: (r["flow"], -r["visits"], r["node"]))


WRAP_UP_COLUMNS = [
    ("contacts", "contacts", "int"),
    ("share", "% of coded", "pct"),
]


class WrapUpFold:
    """Contacts by wrap-up (disposition) code, per channel: a call's `contact.wrapup`
    (the last one given counts), a chat's code in its `chat.closed`. A contact counts
    in the period its code was given."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, str]] = {}  # contact -> (channel, code)

    def feed(self, contact: str | None, channel: str | None, data: dict[str, Any]) -> None:
        code = data.get("code") if "code" in data else data.get("wrap_up")
        if contact is None or not isinstance(code, str) or not code:
            return
        self.codes[contact] = (channel or str(data.get("channel") or "voice"), code)

    def rows(self) -> list[dict[str, Any]]:
        counts: dict[tuple[str, str], int] = {}
        per_channel: dict[str, int] = {}
        for channel, code in self.codes.values():
            counts[channel, code] = counts.get((channel, code), 0) + 1
            per_channel[channel] = per_channel.get(channel, 0) + 1
        return [
            {
                "channel": channel,
                "code": code,
                "contacts": n,
                "share": ratio(n, per_channel[channel]),
            }
            for (channel, code), n in sorted(counts.items())
        ]
