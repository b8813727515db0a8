"""Many small database calls from the event loop as few transactions: batching and group commit.

In a boot storm every connecting station costs a handful of tiny transactions (admission reads,
the connect note, the boot record). Each one alone pays a session, a transaction, a worker-thread
hop and, on SQLite, the write lock: ~300 µs of CPU for a one-row read. Here calls that arrive
while the previous batch is on its worker thread wait for the next batch, which serves them all
in one transaction. A call that finds nobody ahead of it starts at once, so a quiet server sees
the same latency as a direct call; a busy one sees batches grow with the load.

``Batcher``: coalesce calls of a blocking ``work(items) -> results`` (one result per item).
``GroupCommit``: run several callers' units of work ``work(session)`` in one transaction. When the
shared transaction fails, it is rolled back and each unit runs again alone, so one caller's error
never becomes another's (units must therefore be safe to run twice: they only touch the session).
The hottest writes, a charging fleet's TransactionEvents, have a queue of their own that keeps
their order and hands a group's events to one multi-row write (storage/write_behind.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import session_scope

log = logging.getLogger("chargeca.storage.batching")

T = TypeVar("T")
R = TypeVar("R")


def company_wait(gather: float, steady: bool, *, since_last_end: float, since_oldest: float) -> float:
    """How long a batch waits for company before it starts (``Batcher``'s ``gather``, which the
    journal's syncs share, storage/shared_sync.py): under ``steady`` traffic, until its
    oldest call has waited ``gather``, unless the batch before ended that long ago or more."""
    if gather and steady and since_last_end < gather and since_oldest < gather:
        return gather - since_oldest
    return 0.0


class Batcher(Generic[T, R]):
    """``concurrency`` batches may run at once: 1 where writers queue for one lock anyway
    (SQLite), more where they do not (PostgreSQL: a batch's round trips then overlap another's
    instead of every caller waiting for the batch ahead). A call that finds no batch running
    starts one at once, so a quiet server sees one call served at once; a further batch starts
    beside the running ones only once ``spill`` calls wait for them. Otherwise, at a steady
    thousand calls a second, every call found a runner free and batches held one or two calls.

    ``gather`` (seconds): under steady traffic from several callers — a batch of more than one
    call ended less than ``gather`` ago, or more than one call waits — a batch waits for company
    until its oldest call has waited ``gather``, as PostgreSQL's commit_delay (with
    commit_siblings) does. At a thousand calls a second, batches otherwise hold one or two calls
    each and every call pays a commit (on SQLite, the WAL pages its rows touch: measured about
    500 µs of CPU a call alone against about 250 µs in batches of eight). A quiet server never
    waits, nor does one caller sending call after call (a station emptying its offline queue).
    The wait counts from the oldest call's arrival, not from the end of the batch before: calls
    that queued behind a slow batch (a checkpoint, a busy core) have had their wait already, and
    sleeping ``gather`` more after it put that batch's whole time on top of theirs."""

    def __init__(self, work: Callable[[list[T]], Sequence[R | BaseException]], *, max_batch: int = 256,
                 concurrency: int = 1, gather: float = 0.0, spill: int = 1) -> None:
        self._work = work
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._spill = spill
        self._gather = gather
        self._last_end = float("-inf")
        self._last_size = 0
        self._queue: list[tuple[T, asyncio.Future]] = []
        self._oldest_at = 0.0   # the loop's time when the call at the head of the queue came
        self._runners: set[asyncio.Task] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queue:
            self._oldest_at = loop.time()
        self._queue.append((item, future))
        if not self._runners or (len(self._runners) < self._concurrency and len(self._queue) >= self._spill):
            self._runners.add(asyncio.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future]] = []
        try:
            loop = asyncio.get_running_loop()
            while self._queue:
                now = loop.time()
                wait = company_wait(self._gather, self._last_size > 1 or 1 < len(self._queue) < self._max_batch,
                                    since_last_end=now - self._last_end, since_oldest=now - self._oldest_at)
                if wait:
                    await asyncio.sleep(wait)
                    if not self._queue:   # another runner, gathering too, woke first and took them
                        break
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                # Calls left behind (past max_batch) are a backlog: company enough, no wait.
                self._oldest_at = float("-inf")
                self._last_size = len(batch)
                try:
                    results: Sequence[Any] = await asyncio.to_thread(self._work, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the caller was cancelled meanwhile
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
                self._last_end = loop.time()
        finally:
            # Gone from the runners before anyone else runs (not in a done callback): a call that
            # came in between would otherwise find no room for a runner and wait forever.
            self._runners.discard(asyncio.current_task())  # type: ignore[arg-type]
            # Only left non-empty when this task itself was cancelled (loop shutting down); the
            # queue is the other runners' while any is left.
            for _, future in batch:
                future.cancel()
            if not self._runners:
                for _, future in self._queue:
                    future.cancel()
                self._queue.clear()


# Calls waiting before a group commit on PostgreSQL starts another group beside the running ones:
# a backlog, not a steady stream. With a group per arriving call, a TransactionEvent cost ~650 µs
# of server CPU at 1,000/s against ~420 µs in the groups of several this leaves
# (scripts/bench_gateway.py --only-charging --database-url postgresql://…).
SPILL = 8


class GroupCommit:
    def __init__(self, engine: Engine, *, max_batch: int = 256, concurrency: int | None = None,
                 gather: float = 0.0) -> None:
        self._engine = engine
        if concurrency is None:
            # SQLite has one writer at a time: a second group would only wait for the lock.
            concurrency = 1 if engine.dialect.name == "sqlite" else 4
        self._batch: Batcher[Callable[[Session], Any], Any] = Batcher(
            self._run, max_batch=max_batch, concurrency=concurrency, gather=gather, spill=SPILL)

    async def __call__(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction, possibly shared with other callers' work."""
        return await self._batch(work)

    def _run(self, units: list[Callable[[Session], Any]]) -> list[Any]:
        if len(units) > 1:
            try:
                with session_scope(self._engine) as session:
                    return [unit(session) for unit in units]
            except Exception:  # noqa: BLE001 - rolled back as a whole; find out whose it was
                log.debug("group of %d units failed; running each alone", len(units), exc_info=True)
        return [self._alone(unit) for unit in units]

    def _alone(self, unit: Callable[[Session], Any]) -> Any:
        try:
            with session_scope(self._engine) as session:
                return unit(session)
        except Exception as exc:  # noqa: BLE001 - handed to that unit's caller
            return exc
