"""CPU per call of the wallboard's following of the log alone (its listener, the live
contacts, their store reads), without the store's writes.

    python bench/wallboard_cpu.py [--calls 2000] [--rounds 3]

A SQLite store holds `--calls` contacts, each with its customer (named); the 21 events of
a bench call (bench/store_cpu.py's) of each contact are handed to the wallboard's
listener as the store would after their commit, calls interleaved as at load (each
call's events spread over the others'), the loop left to run once every 21 events so
that the wallboard's reads and tasks happen. Prints the event loop thread's
CPU-microseconds per call: what a wallboard costs the controller a call, open all day
(on a shared machine the lowest of the rounds is the least disturbed). Fails if the
wallboard did not read every contact (a figure from skipped work would look cheaper).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from hotline.reports import ReportSettings  # noqa: E402
from hotline.store import Store  # noqa: E402
from hotline.store.records import LoggedEvent  # noqa: E402
from hotline.web.wallboard import Wallboard  # noqa: E402

sys.path.insert(0, str(HOME / "bench"))
from store_cpu import KINDS  # noqa: E402

#: Calls in progress at once (how far their events interleave).
OVERLAP = 100


async def run(calls: int) -> float:
    folder = tempfile.mkdtemp(prefix="wallboard-cpu-")
    store = await Store.connect(f"sqlite+aiosqlite:///{folder}/hotline.db")
    await store.migrate()
    contacts = []
    for n in range(calls):
        customer = await store.customer_for_phone(f"7{n}")
        assert customer is not None
        await store.update_customer(customer.id, display_name=f"Customer {n}")
        contacts.append(await store.open_contact("voice", "inbound", f"7{n}", "800", customer.id))
    board = Wallboard(store, None, ReportSettings())
    await board.start()
    read: set[str] = set()
    contact_and_customer = store.contact_and_customer

    async def counted(contact_id: str) -> Any:
        read.add(contact_id)
        return await contact_and_customer(contact_id)

    store.contact_and_customer = counted  # type: ignore[method-assign]
    events = []
    next_id = board.board.last_id + 1
    # Call n's k-th event comes after call n-1's (k+1)-th: OVERLAP calls in progress.
    order = sorted(
        (n + k * OVERLAP / len(KINDS), n, k) for n in range(calls) for k in range(len(KINDS))
    )
    now = datetime.now(UTC)
    for i, (_, n, k) in enumerate(order):
        kind = KINDS[k]
        agent = "a1" if kind.startswith(("agent.", "contact.answered", "queue.")) else None
        queue = "bench" if kind.startswith(("contact.", "agent.", "queue.")) else None
        data = {"channel": "voice", "caller": f"7{n}"}
        events.append(LoggedEvent(next_id + i, contacts[n], now, kind, queue, agent, data))
    idle = len(asyncio.all_tasks())  # this one and the board's pump
    try:
        cpu = time.thread_time()
        for i, event in enumerate(events):
            board._on_event(event)
            if i % len(KINDS) == 0:  # a loop turn a call's worth of events: its reads run
                await asyncio.sleep(0)
        while len(asyncio.all_tasks()) > idle:  # the last reads
            await asyncio.sleep(0)
        us = 1e6 * (time.thread_time() - cpu) / calls
        # The figure counts only if the wallboard did its work: each contact read (for
        # its customer's name and "an agent's outbound call?"), none skipped.
        if len(read) != calls:
            raise SystemExit(f"FAIL: the wallboard read {len(read)} of {calls} contacts")
        return us
    finally:
        await board.stop()
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        us = asyncio.run(run(args.calls))
        print(f"wallboard: {us:.0f} us CPU per call on the loop's thread", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
