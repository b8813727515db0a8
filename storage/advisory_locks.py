"""Cluster-wide locks: PostgreSQL advisory locks, one name per job that must run on one node.

The renewal scheduler's periodic pass, each rotation and the firmware campaigns' passes run on
at most one node at a time. A lock is held by a database session: it ends with the holder's
transaction (``try_in``) or its connection (``hold``), so a node that dies mid-pass drops its
locks with its connections, and nothing is left to clean up. On SQLite (one process) every lock
is granted: the process's own locks (a rotation's asyncio.Lock) are what counts there. Cluster
mode (api/cluster/) requires PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

LIFECYCLE_PASS = "certificate-lifecycle-pass"
METER_VALUE_MAINTENANCE = "meter-value-maintenance"
FIRMWARE_CAMPAIGN_PASS = "firmware-campaign-pass"
FIRMWARE_CAMPAIGN_MEMBERS = "firmware-campaign-members"


def rotation(name: str) -> str:
    return f"rotation:{name}"


def key(name: str) -> int:
    """The advisory lock's 64-bit key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"chargeca:{name}".encode()).digest()[:8], "big", signed=True)


def try_in(session: Session, name: str) -> bool:
    """In ``session``'s transaction: whether this node has the lock, until that transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(select(func.pg_try_advisory_xact_lock(key(name)))).scalar_one())


def wait_in(session: Session, name: str) -> None:
    """In ``session``'s transaction: wait for the lock, then hold it until that transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(key(name))))


class SessionLock:
    """The lock ``name`` held on a connection of its own, from ``acquire`` (blocking: whether
    this node got it) until ``release``; for work that spans many transactions and awaits."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._key = key(name)
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self._engine.dialect.name != "postgresql":
            return True
        connection = self._engine.connect()
        got = bool(connection.execute(select(func.pg_try_advisory_lock(self._key))).scalar_one())
        connection.commit()
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(select(func.pg_advisory_unlock(self._key)))
            connection.commit()
        finally:
            connection.close()   # closing alone would drop it too; unlocking first says so


@contextlib.contextmanager
def hold(engine: Engine, name: str) -> Iterator[bool]:
    """Blocking: whether this node got the lock, held until the block ends."""
    lock = SessionLock(engine, name)
    got = lock.acquire()
    try:
        yield got
    finally:
        lock.release()


@contextlib.asynccontextmanager
async def holding(engine: Engine, name: str) -> AsyncIterator[bool]:
    """``hold`` for a coroutine, its blocking calls on a thread: whether this node got the lock,
    held until the block ends. A caller cancelled while the lock is being taken (a node shutting
    down, a client gone) must still give it back: the thread takes it all the same, and the
    connection holding it would otherwise stay checked out until collected, keeping the job
    locked on every node meanwhile."""
    lock = SessionLock(engine, name)
    taking = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
    try:
        yield await asyncio.shield(taking)
    finally:
        # Shielded: a second cancellation cannot stop the release, which runs on its own.
        await asyncio.shield(asyncio.ensure_future(_release_once_taken(lock, taking)))


async def _release_once_taken(lock: SessionLock, taking: asyncio.Future) -> None:
    with contextlib.suppress(Exception):   # not taken: nothing to give back (release knows)
        await taking
    await asyncio.to_thread(lock.release)
