"""Leader election on a real PostgreSQL: one leader per domain, a standby that takes
over when the leader's session ends, the fencing epoch raised at each takeover."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from hotline.cluster.leader import ElectionError, LeaderElection, asyncpg_dsn, lock_key
from hotline.store import Store
from hotline.store.epochs import EPOCHS
from tests.pg import private_postgres

pytestmark = pytest.mark.pg


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    store = await Store.connect(pg_url, retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def elections(pg_url: str) -> AsyncIterator[list[LeaderElection]]:
    """Candidates made by the test; all resigned at the end."""
    made: list[LeaderElection] = []
    yield made
    for election in made:
        await election.resign()


def candidate(
    made: list[LeaderElection], url: str, name: str, domain: str = "sales", lease: float = 2.0
) -> LeaderElection:
    election = LeaderElection(asyncpg_dsn(url), domain, name=name, lease=lease, retry=0.05)
    made.append(election)
    return election


async def epochs(store: Store) -> dict[str, tuple[int, str]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(EPOCHS))).all()
    return {row.domain: (row.epoch, row.leader) for row in rows}


async def terminate(store: Store, name: str) -> None:
    """End a candidate's session from PostgreSQL's side (as an operator could)."""
    async with store.engine.begin() as conn:
        ended = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :app"
            ),
            {"app": f"hotline-routing sales {name}"},
        )
        assert ended.scalar_one() is True


async def test_of_two_candidates_one_leads_the_other_waits_and_says_so(
    pg_url: str, pg_store: Store, elections: list[LeaderElection], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hotline.cluster.leader")
    a = candidate(elections, pg_url, "a")
    b = candidate(elections, pg_url, "b")
    leading = await asyncio.wait_for(a.campaign(), 5)
    waiting = asyncio.create_task(b.campaign())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    assert leading.epoch == 1
    assert await epochs(pg_store) == {"sales": (1, "a")}
    standby = [r.getMessage() for r in caplog.records if "standby" in r.getMessage()]
    assert len(standby) == 1  # said once, not at every try
    assert standby[0].startswith(
        "routing domain 'sales': b is a standby: a leads it (epoch 1, since "
    )
    await a.resign()
    taken = await asyncio.wait_for(waiting, 5)
    assert taken.epoch == 2
    assert await epochs(pg_store) == {"sales": (2, "b")}
    assert leading.lost.is_set()


async def test_a_leader_whose_session_ends_knows_at_once_and_the_standby_takes_over(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    a = candidate(elections, pg_url, "a")
    b = candidate(elections, pg_url, "b")
    leading = await a.campaign()
    waiting = asyncio.create_task(b.campaign())
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await terminate(pg_store, "a")
    await asyncio.wait_for(leading.lost.wait(), 1.0)
    assert "connection to PostgreSQL lost" in leading.reason or "heartbeat" in leading.reason
    taken = await asyncio.wait_for(waiting, 2.0)
    assert taken.epoch == 2
    assert time.monotonic() - started < 1.0


async def test_a_silent_leader_loses_its_lock_after_its_lease(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    """No heartbeat (a paused process): PostgreSQL ends the idle session after the lease."""
    a = candidate(elections, pg_url, "a", lease=1.0)
    b = candidate(elections, pg_url, "b", lease=1.0)
    leading = await a.campaign()
    assert a._heartbeat is not None
    a._heartbeat.cancel()  # silent from now on, as a SIGSTOPped leader is
    started = time.monotonic()
    taken = await asyncio.wait_for(b.campaign(), 5)
    took = time.monotonic() - started
    assert taken.epoch == 2
    assert 0.9 < took < 2.5, took
    await asyncio.wait_for(leading.lost.wait(), 1.0)


async def test_domains_are_led_independently(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    sales = await candidate(elections, pg_url, "a", domain="sales").campaign()
    support = await candidate(elections, pg_url, "b", domain="support").campaign()
    assert (sales.epoch, support.epoch) == (1, 1)
    assert await epochs(pg_store) == {"sales": (1, "a"), "support": (1, "b")}
    assert lock_key("sales") != lock_key("support")


async def test_an_unmigrated_database_is_a_clear_error(
    pg_url: str, elections: list[LeaderElection]
) -> None:
    with pytest.raises(ElectionError, match="no routing_epochs table: migrate the database"):
        await asyncio.wait_for(candidate(elections, pg_url, "a").campaign(), 5)


def test_bad_settings_are_refused() -> None:
    dsn = "postgresql://u@127.0.0.1/db"
    with pytest.raises(ValueError, match="routing domain must be 1 to 100 characters"):
        LeaderElection(dsn, "")
    with pytest.raises(ValueError, match="lease must be at least 1 second"):
        LeaderElection(dsn, "sales", lease=0.2)
    with pytest.raises(ElectionError, match="leader election needs PostgreSQL, not sqlite"):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


async def test_a_leader_whose_epoch_was_raised_by_someone_else_steps_down(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    """An operator (or a split brain) raised the epoch: the heartbeat sees it."""
    a = candidate(elections, pg_url, "a", lease=4.0)
    leading = await a.campaign()
    async with pg_store.engine.begin() as conn:
        await conn.execute(text("UPDATE routing_epochs SET epoch = epoch + 1"))
    await asyncio.wait_for(leading.lost.wait(), 3.0)
    assert leading.reason == "the domain's epoch is now 2"
    # It lets go of its lock (its session ends), long before PostgreSQL would end the
    # idle session (4 s): a standby leads at once.
    taken = await asyncio.wait_for(candidate(elections, pg_url, "b", lease=1.0).campaign(), 2.0)
    assert (taken.name, taken.epoch) == ("b", 3)


async def test_postgresql_restarted_the_leader_steps_down_and_a_standby_leads_after(
    elections: list[LeaderElection], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "hotline.cluster.leader")
    with private_postgres() as server:
        url = server.create_database()
        store = await Store.connect(url, retry_for=2.0)
        await store.migrate()
        await store.close()
        a = candidate(elections, url, "a")
        b = candidate(elections, url, "b")
        leading = await a.campaign()
        waiting = asyncio.create_task(b.campaign())
        await asyncio.sleep(0.2)
        server.stop("fast")
        await asyncio.wait_for(leading.lost.wait(), 2.0)
        await asyncio.sleep(0.5)
        assert not waiting.done()
        assert "routing domain 'sales': cannot reach PostgreSQL" in caplog.text
        server.start()
        taken = await asyncio.wait_for(waiting, 10)
        assert (taken.epoch, taken.name) == (2, "b")


async def _block_heartbeat(store: Store, name: str, hold: float) -> None:
    """Lock routing_epochs until candidate `name`'s heartbeat waits on it, then `hold`
    seconds more (its answer that much slower than usual); then let it through."""
    async with store.engine.connect() as conn, conn.begin():
        await conn.execute(text("LOCK TABLE routing_epochs IN ACCESS EXCLUSIVE MODE"))
        async with store.engine.connect() as watch:
            for _ in range(500):
                waiting = await watch.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND application_name = :app"
                    ),
                    {"app": f"hotline-routing sales {name}"},
                )
                if waiting:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the heartbeat never waited on the lock")
        await asyncio.sleep(hold)


async def test_a_slow_heartbeat_answer_is_not_a_lost_lock(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    """A heartbeat answered 2.4 s late with a 4 s lease (a loaded box): the session was
    busy, never idle, so the lock is still the leader's and it goes on leading."""
    a = candidate(elections, pg_url, "a", lease=4.0)
    leading = await a.campaign()
    await _block_heartbeat(pg_store, "a", hold=2.4)
    await asyncio.sleep(1.5)  # the next heartbeats answered at once
    assert not leading.lost.is_set(), leading.reason
    assert await epochs(pg_store) == {"sales": (1, "a")}


async def test_a_heartbeat_unanswered_for_a_lease_loses_the_lead(
    pg_url: str, pg_store: Store, elections: list[LeaderElection]
) -> None:
    """No answer by a lease after the last answered heartbeat was sent (as when the
    network is gone): the leader steps down, and says why."""
    a = candidate(elections, pg_url, "a", lease=2.0)
    leading = await a.campaign()
    blocked = asyncio.create_task(_block_heartbeat(pg_store, "a", hold=3.0))
    await asyncio.wait_for(leading.lost.wait(), 5.0)
    assert leading.reason == "heartbeat failed: TimeoutError"
    await blocked
