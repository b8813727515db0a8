"""Cluster-wide locks held by coroutines (storage/advisory_locks.py ``holding``), on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from storage import advisory_locks
from storage.db import make_engine

pytestmark = pytest.mark.fast

NAME = "rotation:probe"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    made = make_engine(postgres_url)
    yield made
    made.dispose()


def _free(engine: Engine) -> bool:
    """Whether another session can take the lock (and gives it back at once)."""
    with engine.connect() as connection:
        got = connection.execute(select(func.pg_try_advisory_lock(advisory_locks.key(NAME)))).scalar_one()
        if got:
            connection.execute(select(func.pg_advisory_unlock(advisory_locks.key(NAME))))
        connection.commit()
    return bool(got)


async def _hold_forever(engine: Engine, holds: asyncio.Event) -> None:
    async with advisory_locks.holding(engine, NAME) as got:
        assert got
        holds.set()
        await asyncio.sleep(3600)


@pytest.mark.parametrize("cancelled", ["while taking the lock", "while holding it"])
async def test_a_holder_cancelled_at_any_point_gives_the_lock_and_its_connection_back(engine, cancelled):
    holds = asyncio.Event()
    task = asyncio.create_task(_hold_forever(engine, holds))
    if cancelled == "while taking the lock":
        await asyncio.sleep(0)   # the thread is connecting and taking it: the caller gives up
    else:
        await asyncio.wait_for(holds.wait(), 10)
    assert not _free(engine) or cancelled == "while taking the lock"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0
    assert _free(engine)


async def test_a_lock_another_session_holds_is_not_got_and_nothing_stays_held(engine):
    with engine.connect() as other:
        assert other.execute(select(func.pg_try_advisory_lock(advisory_locks.key(NAME)))).scalar_one()
        other.commit()
        async with advisory_locks.holding(engine, NAME) as got:
            assert got is False
        other.execute(select(func.pg_advisory_unlock(advisory_locks.key(NAME))))
        other.commit()
    assert engine.pool.checkedout() == 0 and _free(engine)
