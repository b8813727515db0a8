"""Writes stored in the order they came, in groups; those whose answer the store does not decide
answered once journaled, before they are stored.

Built for the TransactionEvents of a charging fleet (api/csms/transactions/write_behind.py): an
Updated event every few seconds per running transaction, answered with nothing the store
decides. Answered once in the journal (storage/journal.py) and stored in groups gathered over up
to ``store_within`` seconds, such writes cost the database a fraction of what the group commit's
groups of two or three did, and no station waits for them. A write whose answer comes from the
store waits in the same queue (so that the order holds) until its group is stored; its group
leaves after ``gather`` seconds, as the group commit's do (storage/batching.py).

What a journaled write is owed:
- **Durable before its answer**, as the database's own commit would have made it:
  ``sync_to_disk`` False (SQLite in WAL mode with ``synchronous=NORMAL``), the journal's
  ``write()``, which a crash of the process does not undo; True (PostgreSQL, ``synchronous_commit``
  on), that and an fdatasync shared by the writes of the moment, as a commit was by its group.
- **Stored exactly once**: the journal's mark moves in the transaction that stores the writes; at
  the next start the entries past it, and only those, are queued first (``start``).
- **Stored whatever the database does meanwhile**: a group that fails for the database (gone,
  locked) is tried again, backing off, until it is stored; a group that fails for one of its writes
  is stored write by write, and one that cannot be stored alone is kept in the ``.rejected`` file
  beside the journal and logged, never dropped. Past ``max_journaled`` entries not yet stored,
  writes wait for the store again (and share its outcome, a database outage included).
- **Seen by whoever reads after its answer**: ``settled()`` returns once every write queued
  before it is stored. Readers of what these writes store call it first.

A write waiting for its answer from the store gets the exception its group raised, as with the
group commit; the caller answers that as before (its station keeps the message and retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.db import DatabaseUnavailable, session_scope
from storage.journal import Journal, move_mark, read_mark
from storage.shared_sync import SharedSync, SyncEnded, SyncRunner
from storage.sync_process import SyncProcess
from storage.sync_thread import SyncThread

log = logging.getLogger("chargeca.storage.write_behind")

T = TypeVar("T")
R = TypeVar("R")

# Writes stored in one transaction at most: at a thousand a second, store_within's worth.
GROUP_MAX = 256
# A group that failed for the database is tried again after this long, doubling up to the last.
RETRY_FIRST, RETRY_MAX = 0.05, 5.0
# How long a reader waits for the writes queued before it: longer means the database is away,
# and the reader reads what is there (and meets the outage itself).
SETTLE_MAX = 5.0
# A group refused with one of ``retry_on`` (a summary another writer changed) is tried again at
# once this many times in all.
ATTEMPTS = 3
# The file of entries that could not be stored stops growing here.
REJECTED_MAX = 64 * 1024 * 1024


@dataclass(eq=False)
class _Queued(Generic[T]):
    item: T
    seq: int | None                  # its journal entry: answered already
    answer: asyncio.Future | None    # without one, its caller waits for the store's answer
    body: str | None = None          # its journal entry's
    ordinal: int = 0                 # its place among every write queued since the start
    at: float = 0.0                  # the loop's time when it was queued


@dataclass(frozen=True)
class Journaling(Generic[T]):
    """Where a WriteBehind journals, and how its entries become writes again after a stop."""

    path: Path
    mark_name: str                       # its row in journal_mark: one per node and purpose
    max_entries: int                     # entries not yet stored, at most
    sync_to_disk: bool
    restore: Callable[[str], T]          # a journal entry's body -> the write
    sync_in_process: bool = True         # the fdatasync in a helper process (storage/sync_process.py), else on a thread
    on_sync: Callable[[SyncEnded], object] | None = None   # told of each sync (sync_to_disk), on the event loop


class WriteBehind(Generic[T, R]):
    def __init__(self, engine: Any, store: Callable[[Session, list[T]], Sequence[R]], *,
                 journaling: Journaling[T] | None, store_within: float, gather: float,
                 on_stored: Callable[[T, R], None] = lambda item, result: None,
                 retry_on: tuple[type[Exception], ...] = ()) -> None:
        """``store(session, items)``: one result per item, in order, in the session's transaction.
        ``on_stored(item, result)``: on the event loop, once committed, in order. ``journaling``
        None or ``store_within`` 0: nothing is answered before it is stored (what the journal
        holds from an earlier run is stored all the same)."""
        self._engine = engine
        self._store_items = store
        self._journaling = journaling
        self._answers_early = journaling is not None and store_within > 0
        self._store_within = store_within
        self._gather = gather
        self._on_stored = on_stored
        self._retry_on = retry_on
        self._journal: Journal | None = None
        # One fdatasync for the entries written meanwhile, as one commit was for its group (start).
        self._syncs_to_disk = self._answers_early and journaling is not None and journaling.sync_to_disk
        self._synced: SharedSync | None = None
        self._queue: deque[_Queued[T]] = deque()
        self._enqueued = 0                         # ordinals given
        self._stored = 0                           # every write up to this ordinal is stored (or kept aside)
        self._urgent_since: float | None = None    # the loop's time an answer or a reader began to wait
        self._settling: list[tuple[int, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._last_size, self._last_end = 0, -math.inf   # the latest group stored: its size, the loop's time

    # --- for whoever runs it ------------------------------------------------------------------

    async def start(self) -> WriteBehind[T, R]:
        """Open the journal and queue what it holds past its mark (answered before a stop and
        never stored): stored before any write that comes from now on."""
        if self._journaling is not None:
            self._journal, left = await asyncio.to_thread(self._open_journal, self._journaling)
            for seq, body in left:
                try:
                    item = self._journaling.restore(body)
                except Exception as exc:  # noqa: BLE001 - an entry this version cannot read
                    self._keep_aside(seq, body, exc)
                    continue
                self._put(_Queued(item, seq, None, body))
            if left:
                log.warning("storing %d writes answered before the last stop and not stored then (%s)",
                            len(left), self._journaling.path)
        if self._syncs_to_disk:
            self._synced = SharedSync(self._sync_runner(), gather=self._gather,
                                      on_sync=self._journaling.on_sync).start()
        self._task = asyncio.create_task(self._run(), name="write-behind")
        return self

    async def aclose(self, wait: float = SETTLE_MAX) -> None:
        """Store what is queued (for at most ``wait`` seconds; the journal keeps the rest), stop."""
        if self._task is None:
            return
        if self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled(), wait)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        for queued in self._queue:
            if queued.answer is not None and not queued.answer.done():
                queued.answer.cancel()
        if self._synced is not None:
            await self._synced.aclose()
        if self._journal is not None:
            self._journal.close()

    # --- for writers and readers --------------------------------------------------------------

    async def put(self, item: T, journal_body: str | None = None) -> R | None:
        """``journal_body`` given: ``item`` journaled with it, and None once that is durable (the
        caller answers without the store); otherwise, or when the journal is full, the store's
        result once ``item``'s group is stored (raising what storing it raised)."""
        if journal_body is not None and self._answers_early and self._journal is not None:
            # With a sync to wait for, the sync's thread writes it (written_at_sync: storage/journal.py).
            seq = self._journal.append(journal_body)
            if seq is not None:
                self._put(_Queued(item, seq, None, journal_body))
                if self._synced is not None:
                    await self._synced()
                return None
        answer = asyncio.get_running_loop().create_future()
        self._put(_Queued(item, None, answer), urgent=True)
        return await answer

    async def settled(self) -> None:
        """Once every write queued before this call is stored (or SETTLE_MAX has passed)."""
        target = self._enqueued
        if self._stored >= target or self._task is None:
            return
        done = asyncio.get_running_loop().create_future()
        self._settling.append((target, done))
        self._hurry()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), SETTLE_MAX)

    @property
    def answers_early(self) -> bool:
        """Whether a write given a journal body is answered before it is stored."""
        return self._answers_early

    @property
    def waiting(self) -> int:
        """Writes queued and not yet stored."""
        return len(self._queue)

    # --- inside -------------------------------------------------------------------------------

    def _open_journal(self, journaling: Journaling[T]) -> tuple[Journal, list[tuple[int, str]]]:
        with session_scope(self._engine) as session:
            through = read_mark(session, journaling.mark_name)
        return Journal.open(journaling.path, journaling.max_entries, stored_through=through,
                            written_at_sync=self._syncs_to_disk)

    def _sync_runner(self) -> SyncRunner:
        assert self._journal is not None and self._journaling is not None
        if self._journaling.sync_in_process:
            return SyncProcess(self._journal.fileno(), write=self._journal.write_held, fallback=self._journal.sync)
        return SyncThread(self._journal.sync)

    def _put(self, queued: _Queued[T], urgent: bool = False) -> None:
        self._enqueued += 1
        queued.ordinal, queued.at = self._enqueued, asyncio.get_running_loop().time()
        self._queue.append(queued)
        if urgent:
            self._hurry()
        elif len(self._queue) == 1 or len(self._queue) >= GROUP_MAX:
            self._wake.set()

    def _hurry(self) -> None:
        # Only the first since the last group changes when the next one leaves: waking the runner
        # for each caller after it cost more than their groups (a thousand a second).
        if self._urgent_since is None:
            self._urgent_since = asyncio.get_running_loop().time()
            self._wake.set()

    def _due(self) -> float:
        """When the next group leaves: once its oldest journaled write has waited store_within,
        or a caller waits for an answer (or a reader for the writes). Under steady traffic (the
        group before held more than one write and ended less than ``gather`` ago, or more than
        one write waits) the caller's group waits ``gather`` for company first, as the group
        commit's (storage/batching.py); a quiet server's caller waits for nothing."""
        head = self._queue[0]
        due = head.at + self._store_within if head.seq is not None else math.inf
        if self._urgent_since is not None:
            steady = (self._last_size > 1 or len(self._queue) > 1) and \
                self._urgent_since - self._last_end < self._gather
            due = min(due, self._urgent_since + (self._gather if steady else 0.0))
        return due

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        retry = RETRY_FIRST
        while True:
            self._wake.clear()
            if not self._queue:
                await self._wake.wait()
                continue
            due = self._due()
            if len(self._queue) < GROUP_MAX and (wait := due - loop.time()) > 0:
                # A timer rather than wait_for: no task to make for each wait.
                timer = loop.call_later(wait, self._wake.set)
                await self._wake.wait()
                timer.cancel()
                continue
            group = [self._queue[index] for index in range(min(GROUP_MAX, len(self._queue)))]
            self._urgent_since = None
            try:
                await self._store(group)
                retry = RETRY_FIRST
                self._last_size, self._last_end = len(group), loop.time()
            except Exception as exc:  # noqa: BLE001 - nothing answered is dropped (_failed)
                if not _database_away(exc) and len(group) > 1:
                    await self._store_one_by_one(group)
                    continue
                self._failed(group, exc)
                if _database_away(exc):
                    log.warning("storing %d writes failed (%s); trying again in %.2f s", len(group), exc, retry)
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, RETRY_MAX)

    async def _store(self, group: list[_Queued[T]]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                results = await asyncio.to_thread(self._store_group, group)
                break
            except self._retry_on:
                if attempt == ATTEMPTS:
                    raise
        for queued, result in zip(group, results, strict=True):
            try:
                self._on_stored(queued.item, result)
            except Exception:  # noqa: BLE001 - stored and committed: never stored again for this
                log.exception("after storing a write")
            if queued.answer is not None and not queued.answer.done():
                queued.answer.set_result(result)
        self._forget(group)

    def _store_group(self, group: list[_Queued[T]]) -> Sequence[R]:
        with session_scope(self._engine) as session:
            results = self._store_items(session, [queued.item for queued in group])
            through = max((queued.seq for queued in group if queued.seq is not None), default=None)
            if through is not None and self._journaling is not None:
                move_mark(session, self._journaling.mark_name, through)
        return results

    async def _store_one_by_one(self, group: list[_Queued[T]]) -> None:
        for queued in group:
            try:
                await self._store([queued])
            except Exception as exc:  # noqa: BLE001 - that write's own outcome
                self._failed([queued], exc)
                if _database_away(exc):
                    return   # the rest stays queued, tried again by _run

    def _failed(self, group: list[_Queued[T]], exc: BaseException) -> None:
        """Those waiting for their answer get the error (their stations keep the message and
        send it again); a journaled write stays queued while the database is away and is kept
        aside when it alone cannot be stored."""
        gone = []
        for queued in group:
            if queued.answer is not None:
                if not queued.answer.done():
                    queued.answer.set_exception(exc)
                gone.append(queued)
            elif not _database_away(exc):
                self._keep_aside(queued.seq, queued.body, exc)
                gone.append(queued)
        self._forget(gone)

    def _keep_aside(self, seq: int | None, body: str | None, exc: BaseException) -> None:
        """An entry that cannot be stored: two lines in the ``.rejected`` file beside the journal
        (what went wrong, then the entry), for whoever can mend it; once that file holds
        REJECTED_MAX bytes (a station that sends what can never be stored, again and again), only
        its seq is logged."""
        assert self._journaling is not None
        aside = self._journaling.path.with_name(self._journaling.path.name + ".rejected")
        fd = os.open(aside, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size >= REJECTED_MAX:
                # Not the entry itself: what a write holds is not for the log.
                log.error("journal entry %s cannot be stored (%s), and %s is full: not kept", seq, exc, aside)
                return
            log.error("journal entry %s cannot be stored (%s): kept in %s", seq, exc, aside)
            os.write(fd, (json.dumps({"seq": seq, "error": str(exc)}) + f"\n{body}\n").encode())
        finally:
            os.close(fd)

    def _forget(self, gone: list[_Queued[T]]) -> None:
        """``gone`` are stored or given up: off the queue; readers waiting for them go on."""
        if not gone:
            return
        leaving = set(map(id, gone))
        self._queue = deque(queued for queued in self._queue if id(queued) not in leaving)
        self._stored = self._queue[0].ordinal - 1 if self._queue else self._enqueued
        if self._journal is not None and any(queued.seq is not None for queued in gone):
            # Stored are the entries before the first still queued (the queue keeps their order).
            first = next((queued.seq for queued in self._queue if queued.seq is not None), None)
            self._journal.stored(self._journal.last_seq if first is None else first - 1)
        for target, done in self._settling:
            if target <= self._stored and not done.done():
                done.set_result(None)
        self._settling = [(target, done) for target, done in self._settling if target > self._stored]


def _database_away(exc: BaseException) -> bool:
    """A failure of the database, not of the writes: worth trying the same writes again.
    (session_scope turns an OperationalError into DatabaseUnavailable already.)"""
    return isinstance(exc, DatabaseUnavailable) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
